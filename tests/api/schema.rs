#[test]
fn schema_graphql_is_what_the_code_prints() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    let from_code = sns_api::sdl();
    assert!(
        on_disk == from_code,
        "schema.graphql differs from the schema in the code.\n\
         Regenerate it with:\n\n    cargo run -q -- schema > schema.graphql\n\n\
         and review the diff: a change there changes every client's generated types."
    );
}
