//! The cost rule: what a parsed document costs to validate and run, counted
//! on its syntax alone against the settings: the fields as written, the
//! fields that validation and execution walk (every operation and fragment
//! definition, each fragment spread counting its fragment's fields again),
//! the deepest field nesting, and the most directives on one definition or
//! selection. `__typename` and aliases are fields like any other. Each
//! fragment is measured once and its figures reused wherever it is spread, so
//! the count is linear in the document however the fragments fan out.
//!
//! With fragments expanded, a connection field ([`CONNECTIONS`]) or a list
//! field ([`LISTS`]) counts 1 plus `first` times its selection, as running
//! it resolves the selection once per item: `followers` within `followers` within `followers` counts
//! `first`³ times what the innermost selects. `first` is the literal argument
//! or its variable (the request's value, else the largest default any
//! operation declares for it), the field's default in the schema (20 for a
//! connection) when absent or not an integer, and counts 1 to 100: values outside are refused by the
//! resolver, and validation walks the selection of `first: 0` all the same. A
//! fragment's figure then depends on the request's variables only, never on
//! where it is spread, so it is still measured once.
//!
//! The rule ([`check`]) refuses a fragment cycle, and each figure over its
//! setting: directives (`QUERY_DIRECTIVE_LIMIT`), fields as written
//! (`QUERY_FIELD_LIMIT`), fields expanded (`QUERY_COMPLEXITY_LIMIT`), depth
//! (`QUERY_DEPTH_LIMIT`), in that order.

use std::collections::{HashMap, HashSet};

use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::{Positioned, ServerError, Variables};
use async_graphql_value::{ConstValue, Value};

use crate::config::Documents;
use crate::graphql::codes::{PARSE_FAILED, VALIDATION_FAILED, refused};

/// The fields that answer a Relay connection, whatever type they are
/// selected on (the measure sees no types): `Profile.posts`,
/// `Profile.followers`, `Profile.following`, `Query.feed`, `Post.likedBy`,
/// `Post.replies`, `Query.notifications` and `Query.followRequests`. A test
/// checks the list against the schema.
pub(super) const CONNECTIONS: [&str; 8] = [
    "posts",
    "followers",
    "following",
    "feed",
    "likedBy",
    "replies",
    "notifications",
    "followRequests",
];

/// List fields that count their selection as many times as they answer
/// items, each with that number when no `first` gives it (the schema's
/// default, or the list's bound): `Notification.actors` and
/// `Post.ancestors` (at most 40, and no `first`). A test checks them
/// against the schema.
pub(super) const LISTS: [(&str, usize); 2] = [
    ("actors", 3),
    ("ancestors", crate::service::thread::MAX_ANCESTORS),
];

/// `first` of a connection field that does not give it (the schema's default).
const DEFAULT_FIRST: usize = 20;
/// The largest `first` a connection field answers.
const MAX_FIRST: usize = 100;

/// The measures of one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cost {
    /// Fields as written, in every operation and fragment definition.
    pub written: usize,
    /// Fields with fragments expanded, summed over every operation and
    /// fragment definition (validation walks each of them so), a connection's
    /// selection `first` times; saturates.
    pub fields: usize,
    /// Deepest nesting of fields, fragments expanded (`{ me { id } }` is 2).
    pub depth: usize,
    /// Most directives on one operation, fragment, variable or selection.
    pub directives: usize,
}

/// A document whose fragments spread each other in a cycle (which no
/// expansion ends); holds a fragment of the cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cycle(pub String);

/// One definition's own selections, before its spreads are resolved.
#[derive(Default)]
struct Body<'a> {
    /// Fields as written.
    written: usize,
    /// Fields, each counted as many times as the connections around it ask.
    fields: usize,
    depth: usize,
    /// Each spread, with the field depth it sits at and how many times the
    /// connections around it count it.
    spreads: Vec<Spread<'a>>,
}

struct Spread<'a> {
    name: &'a str,
    depth: usize,
    times: usize,
}

/// A definition's figures with its spreads expanded.
#[derive(Debug, Clone, Copy, Default)]
struct Expanded {
    fields: usize,
    depth: usize,
}

/// What `first` counts as for each connection field; fixed for a request.
struct Firsts<'a> {
    variables: &'a Variables,
    /// The largest integer default declared for each variable over the
    /// operations, and whether one declares a default that is no integer
    /// (which counts as the field's own default).
    defaults: HashMap<&'a str, (Option<usize>, bool)>,
}

impl<'a> Firsts<'a> {
    fn new(doc: &'a ExecutableDocument, variables: &'a Variables) -> Self {
        let mut defaults: HashMap<&str, (Option<usize>, bool)> = HashMap::new();
        for (_, op) in doc.operations.iter() {
            for v in &op.node.variable_definitions {
                if let Some(default) = &v.node.default_value {
                    let d = defaults.entry(v.node.name.node.as_str()).or_default();
                    match first_of(&default.node) {
                        Some(n) => d.0 = Some(d.0.map_or(n, |m| m.max(n))),
                        None => d.1 = true,
                    }
                }
            }
        }
        Self {
            variables,
            defaults,
        }
    }

    /// How many times `field` counts its selection.
    fn times(&self, field: &Field) -> usize {
        let name = field.name.node.as_str();
        let default = if CONNECTIONS.contains(&name) {
            DEFAULT_FIRST
        } else if let Some(&(_, n)) = LISTS.iter().find(|(list, _)| *list == name) {
            n
        } else {
            return 1;
        };
        // Given twice (which validation refuses), the larger counts.
        field
            .arguments
            .iter()
            .filter(|(name, _)| name.node == "first")
            .map(|(_, value)| match &value.node {
                Value::Variable(var) => match self.variables.get(var) {
                    Some(v) => first_of(v).unwrap_or(default),
                    None => match self.defaults.get(var.as_str()) {
                        Some(&(Some(n), false)) => n,
                        Some(&(Some(n), true)) => n.max(default),
                        _ => default,
                    },
                },
                Value::Number(n) => clamped(n.as_i64()).unwrap_or(default),
                _ => default,
            })
            .max()
            .unwrap_or(default)
    }
}

/// What a value of `first` counts as: an integer clamped to 1 to 100 (0
/// still counts once: validation walks the selection whatever `first` is);
/// anything else (null, a string, a float) none, so the field's default.
fn first_of(value: &ConstValue) -> Option<usize> {
    match value {
        ConstValue::Number(n) => clamped(n.as_i64()),
        _ => None,
    }
}

fn clamped(n: Option<i64>) -> Option<usize> {
    n.map(|n| usize::try_from(n.clamp(1, MAX_FIRST as i64)).unwrap_or(MAX_FIRST))
}

/// Refuses a document that cannot be expanded (a fragment cycle), carries
/// too many directives in one place, selects too many fields, as written or
/// with its fragments expanded and its connections multiplied (by `first`,
/// which may come from `variables`), or nests them too deep.
pub(super) fn check(
    limits: &Documents,
    doc: &ExecutableDocument,
    variables: &Variables,
) -> Result<(), ServerError> {
    let cost = measure(doc, variables).map_err(|Cycle(name)| {
        refused(
            format!("The fragment \"{name}\" spreads itself, directly or through other fragments."),
            VALIDATION_FAILED,
        )
    })?;
    // Each figure against its setting, in this order; the first over refuses.
    let figures = [
        Figure {
            value: cost.directives,
            limit: limits.directive_limit,
            setting: "QUERY_DIRECTIVE_LIMIT",
            // The code async-graphql gives directive counts (it checks them
            // while parsing).
            code: PARSE_FAILED,
            what: |n| format!("A field, fragment or operation carries {n} directives"),
        },
        Figure {
            value: cost.written,
            limit: limits.field_limit,
            setting: "QUERY_FIELD_LIMIT",
            code: VALIDATION_FAILED,
            what: |n| format!("The document selects {n} fields"),
        },
        Figure {
            value: cost.fields,
            limit: limits.complexity_limit,
            setting: "QUERY_COMPLEXITY_LIMIT",
            code: VALIDATION_FAILED,
            what: |n| {
                let fields = if n == usize::MAX {
                    "more fields than can be counted".to_owned()
                } else {
                    format!("{n} fields")
                };
                format!(
                    "The document selects {fields} once its fragments are expanded \
                     and each connection's selection is counted `first` times"
                )
            },
        },
        Figure {
            value: cost.depth,
            limit: limits.depth_limit,
            setting: "QUERY_DEPTH_LIMIT",
            code: VALIDATION_FAILED,
            what: |n| format!("The document nests fields {n} deep"),
        },
    ];
    match figures.into_iter().find(|f| f.value > f.limit) {
        Some(f) => Err(refused(
            format!(
                "{}; at most {} are allowed ({}).",
                (f.what)(f.value),
                f.limit,
                f.setting
            ),
            f.code,
        )),
        None => Ok(()),
    }
}

/// One figure of a document against its setting.
struct Figure {
    value: usize,
    limit: usize,
    setting: &'static str,
    code: &'static str,
    /// What the document does, told with its figure.
    what: fn(usize) -> String,
}

/// Measures `doc`, whose connection fields may take `first` from `variables`.
pub(super) fn measure(doc: &ExecutableDocument, variables: &Variables) -> Result<Cost, Cycle> {
    let firsts = Firsts::new(doc, variables);
    let mut cost = Cost {
        written: 0,
        fields: 0,
        depth: 0,
        directives: 0,
    };
    let fragments: HashMap<&str, Body<'_>> = doc
        .fragments
        .iter()
        .map(|(name, f)| {
            cost.directives = cost.directives.max(f.node.directives.len());
            (
                name.as_str(),
                body(&f.node.selection_set, &firsts, &mut cost),
            )
        })
        .collect();
    let operations: Vec<Body<'_>> = doc
        .operations
        .iter()
        .map(|(_, op)| {
            let op = &op.node;
            cost.directives = cost.directives.max(op.directives.len());
            for v in &op.variable_definitions {
                cost.directives = cost.directives.max(v.node.directives.len());
            }
            body(&op.selection_set, &firsts, &mut cost)
        })
        .collect();
    cost.written = fragments
        .values()
        .chain(&operations)
        .map(|b| b.written)
        .sum();

    let mut done: HashMap<&str, Expanded> = HashMap::with_capacity(fragments.len());
    for name in fragments.keys() {
        expand_fragment(name, &fragments, &mut done)?;
    }
    let totals = done
        .values()
        .copied()
        .chain(operations.iter().map(|b| expanded(b, &done)));
    for total in totals {
        cost.fields = cost.fields.saturating_add(total.fields);
        cost.depth = cost.depth.max(total.depth);
    }
    Ok(cost)
}

/// The own selections of one definition; directives counted into `cost`.
fn body<'a>(set: &'a Positioned<SelectionSet>, firsts: &Firsts<'_>, cost: &mut Cost) -> Body<'a> {
    let mut body = Body::default();
    let mut walk = Walk {
        body: &mut body,
        firsts,
        cost,
    };
    walk.set(&set.node, 0, 1);
    body
}

/// The walk of one definition's selections.
struct Walk<'w, 'a> {
    body: &'w mut Body<'a>,
    firsts: &'w Firsts<'w>,
    cost: &'w mut Cost,
}

impl<'a> Walk<'_, 'a> {
    /// Adds the selections of `set`, whose fields sit at `depth` + 1 and
    /// count `times` each, to the body. Recurses once per nesting level,
    /// which the parser bounds.
    fn set(&mut self, set: &'a SelectionSet, depth: usize, times: usize) {
        for item in &set.items {
            self.cost.directives = self.cost.directives.max(item.node.directives().len());
            match &item.node {
                Selection::Field(f) => {
                    let body = &mut *self.body;
                    body.written += 1;
                    body.fields = body.fields.saturating_add(times);
                    body.depth = body.depth.max(depth + 1);
                    let inner = times.saturating_mul(self.firsts.times(&f.node));
                    self.set(&f.node.selection_set.node, depth + 1, inner);
                }
                Selection::InlineFragment(f) => self.set(&f.node.selection_set.node, depth, times),
                Selection::FragmentSpread(s) => self.body.spreads.push(Spread {
                    name: s.node.fragment_name.node.as_str(),
                    depth,
                    times,
                }),
            }
        }
    }
}

/// `body` with its spreads expanded from `done`; a spread of an unknown
/// fragment adds nothing (validation refuses it).
fn expanded(body: &Body<'_>, done: &HashMap<&str, Expanded>) -> Expanded {
    body.spreads.iter().fold(
        Expanded {
            fields: body.fields,
            depth: body.depth,
        },
        |acc, spread| {
            let f = done.get(spread.name).copied().unwrap_or_default();
            Expanded {
                fields: acc
                    .fields
                    .saturating_add(spread.times.saturating_mul(f.fields)),
                depth: acc.depth.max(if f.fields == 0 {
                    0
                } else {
                    spread.depth + f.depth
                }),
            }
        },
    )
}

/// Expands `root` and every fragment it reaches into `done`, depth first with
/// an explicit stack (a chain of thousands of fragments must not overflow
/// the thread's stack).
fn expand_fragment<'a>(
    root: &'a str,
    fragments: &HashMap<&'a str, Body<'a>>,
    done: &mut HashMap<&'a str, Expanded>,
) -> Result<(), Cycle> {
    if done.contains_key(root) {
        return Ok(());
    }
    // Each open fragment with the index of its next spread to look at.
    let mut stack: Vec<(&str, usize)> = vec![(root, 0)];
    let mut open: HashSet<&str> = HashSet::from([root]);
    while let Some(&mut (name, ref mut next)) = stack.last_mut() {
        let body = &fragments[name];
        if let Some(spread) = body.spreads.get(*next).map(|s| s.name) {
            *next += 1;
            if done.contains_key(spread) || !fragments.contains_key(spread) {
                continue;
            }
            if !open.insert(spread) {
                return Err(Cycle(spread.to_owned()));
            }
            stack.push((spread, 0));
        } else {
            done.insert(name, expanded(body, done));
            open.remove(name);
            stack.pop();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use async_graphql::Request;

    use super::super::testing::{refusal, schema_with};
    use super::*;
    use crate::graphql::ApiSchema;

    fn cost(query: &str) -> Cost {
        cost_with(query, serde_json::json!({}))
    }

    fn cost_with(query: &str, variables: serde_json::Value) -> Cost {
        measure(
            &async_graphql::parser::parse_query(query).unwrap(),
            &Variables::from_json(variables),
        )
        .unwrap()
    }

    /// `{ ...F0 }` and `levels` fragments on `on`, each spreading the next
    /// twice inside `around`, the last selecting `leaf`: 2^`levels` leaves
    /// once expanded.
    fn fan_out(levels: usize, on: &str, around: (&str, &str), leaf: &str) -> String {
        let (open, close) = around;
        let mut doc = String::from("{ ...F0 }");
        for i in 0..levels {
            let n = i + 1;
            doc.push_str(&format!(
                " fragment F{i} on {on} {{ {open}...F{n} ...F{n}{close} }}"
            ));
        }
        doc.push_str(&format!(" fragment F{levels} on {on} {{ {leaf} }}"));
        doc
    }

    #[test]
    fn typename_and_aliases_count_as_fields() {
        let c = cost("{ a: __typename b: __typename me { __typename } }");
        assert_eq!((c.written, c.fields, c.depth), (4, 4, 2));
    }

    #[test]
    fn each_spread_counts_its_fragment_again_and_the_definition_once() {
        let c = cost("{ ...F ...F me { ...F } } fragment F on Query { a b }");
        assert_eq!(c.written, 3, "as written: me, a, b");
        assert_eq!(
            c.fields,
            1 + 3 * 2 + 2,
            "me, three spreads of two, the definition"
        );
        assert_eq!(c.depth, 2, "the spread inside `me` is one level down");
    }

    #[test]
    fn inline_fragments_add_their_fields_but_no_depth() {
        let c = cost("{ ... on Query { a ... { b { c } } } }");
        assert_eq!((c.written, c.fields, c.depth), (3, 3, 2));
    }

    #[test]
    fn every_operation_counts_whichever_runs() {
        let c = cost("query A { a b } query B { c { d } }");
        assert_eq!((c.written, c.fields, c.depth), (4, 4, 2));
    }

    #[test]
    fn an_exponential_fan_out_is_counted_in_linear_time_and_saturates() {
        let doc = fan_out(200, "Query", ("", ""), "a");
        let c = cost(&doc);
        assert_eq!(c.written, 1);
        assert_eq!(c.fields, usize::MAX);
    }

    #[test]
    fn a_long_chain_of_fragments_does_not_recurse() {
        let mut doc = String::from("{ ...F0 }");
        for i in 0..20_000 {
            doc.push_str(&format!(" fragment F{i} on Query {{ a ...F{} }}", i + 1));
        }
        doc.push_str(" fragment F20000 on Query { a }");
        let c = cost(&doc);
        assert_eq!(c.depth, 1);
        assert_eq!(c.written, 20_001);
    }

    #[test]
    fn a_cycle_is_reported_not_followed() {
        let doc = async_graphql::parser::parse_query(
            "{ ...A } fragment A on Query { a ...B } fragment B on Query { ...A }",
        )
        .unwrap();
        let none = Variables::default();
        let Cycle(name) = measure(&doc, &none).unwrap_err();
        assert!(name == "A" || name == "B", "{name}");
        let itself =
            async_graphql::parser::parse_query("{ ...A } fragment A on Query { ...A }").unwrap();
        assert_eq!(measure(&itself, &none).unwrap_err(), Cycle("A".into()));
    }

    #[test]
    fn an_unknown_fragment_adds_nothing() {
        assert_eq!(cost("{ a ...Nope }").fields, 1);
    }

    #[test]
    fn a_connection_counts_first_times_its_selection() {
        let c = cost("{ feed(first: 5) { edges { node { id body } } } }");
        assert_eq!(
            c.fields,
            1 + 5 * 4,
            "feed, then edges, node, id, body 5 times"
        );
        assert_eq!(
            (c.written, c.depth),
            (5, 4),
            "as written and depth unchanged"
        );
        assert_eq!(
            cost("{ feed { nodes { id } } }").fields,
            1 + 20 * 2,
            "absent: 20"
        );
        for odd in [
            r#"first: "ten""#,
            "first: null",
            "first: 2.5",
            "after: \"x\"",
        ] {
            let doc = format!("{{ feed({odd}) {{ nodes {{ id }} }} }}");
            assert_eq!(cost(&doc).fields, 41, "{doc}");
        }
    }

    #[test]
    fn first_counts_from_one_to_a_hundred() {
        let feed = |first: &str| cost(&format!("{{ feed(first: {first}) {{ nodes {{ id }} }} }}"));
        assert_eq!(feed("1000").fields, 1 + 100 * 2);
        assert_eq!(feed("100").fields, 1 + 100 * 2);
        assert_eq!(
            feed("99999999999999999999").fields,
            41,
            "not an Int: the default"
        );
        // Validation walks the selection whatever `first` is.
        assert_eq!(feed("0").fields, 1 + 2);
        assert_eq!(feed("-5").fields, 1 + 2);
    }

    #[test]
    fn first_comes_from_the_request_variables_then_the_default() {
        let doc = "query($n: Int) { feed(first: $n) { nodes { id } } }";
        assert_eq!(cost_with(doc, serde_json::json!({"n": 7})).fields, 15);
        assert_eq!(cost_with(doc, serde_json::json!({"n": 5000})).fields, 201);
        assert_eq!(cost_with(doc, serde_json::json!({"n": null})).fields, 41);
        assert_eq!(cost_with(doc, serde_json::json!({"n": "7"})).fields, 41);
        assert_eq!(cost(doc).fields, 41, "neither given nor defaulted: 20");

        let defaulted = "query($n: Int = 3) { feed(first: $n) { nodes { id } } }";
        assert_eq!(cost(defaulted).fields, 1 + 3 * 2);
        assert_eq!(
            cost_with(defaulted, serde_json::json!({"n": 9})).fields,
            1 + 9 * 2,
            "the request's value wins"
        );
        assert_eq!(
            cost("{ feed(first: $undeclared) { nodes { id } } }").fields,
            41
        );
    }

    #[test]
    fn nested_connections_multiply_whatever_their_parent() {
        let c = cost(
            r#"{ profile(handle: "a") { followers(first: 10) { nodes {
                following(first: 10) { nodes { posts(first: 10) { nodes { id } } } } } } } }"#,
        );
        // posts 1 + 10 * 2 = 21; following 1 + 10 * (1 + 21) = 221;
        // followers 1 + 10 * (1 + 221) = 2221; profile 1 more.
        assert_eq!(c.fields, 2222);
        assert_eq!((c.written, c.depth), (8, 8));
        assert_eq!(cost("{ a { posts(first: 2) { x } } }").fields, 1 + 1 + 2);
        assert_eq!(
            cost("{ users(first: 50) { id } }").fields,
            2,
            "only connections multiply"
        );
        assert_eq!(
            cost("{ feed(first: 10) { ... on PostConnection { nodes { id } } } }").fields,
            21,
            "inline fragments are part of the selection"
        );
    }

    #[test]
    fn ancestors_count_forty_times_and_replies_first_times_their_selection() {
        let c = cost(r#"{ post(id: "x") { ancestors { id author { handle } } } }"#);
        assert_eq!(
            c.fields,
            1 + 1 + 40 * 3,
            "post, then ancestors, 40 of three"
        );
        assert_eq!(
            cost(r#"{ post(id: "x") { ancestors { ancestors { id } } } }"#).fields,
            1 + 1 + 40 * (1 + 40),
            "nested, they multiply"
        );
        assert_eq!(
            cost(r#"{ post(id: "x") { replies(first: 7) { nodes { id } } } }"#).fields,
            1 + 1 + 7 * 2
        );
    }

    #[test]
    fn connections_multiply_through_fragments() {
        let c = cost(
            r#"{ profile(handle: "a") { followers(first: 3) { nodes { ...P } } } }
            fragment P on Profile { followers(first: 4) { nodes { id } } }"#,
        );
        // P: 1 + 4 * 2 = 9; the operation: 1 + 1 + 3 * (1 + 9) = 32; P's definition 9.
        assert_eq!(c.fields, 41);
        assert_eq!((c.written, c.depth), (6, 6));
        let spread_in_a_connection =
            "{ feed(first: 10) { ...E } } fragment E on PostConnection { nodes { id } }";
        assert_eq!(cost(spread_in_a_connection).fields, 1 + 10 * 2 + 2);
    }

    #[test]
    fn a_fragment_with_a_variable_counts_the_same_wherever_it_is_spread() {
        let doc = r#"query($n: Int = 2) {
            profile(handle: "a") { ...F followers(first: 3) { nodes { ...F } } }
        }
        fragment F on Profile { posts(first: $n) { nodes { id } } }"#;
        // F: 1 + n * 2; the operation: 1 + F + 1 + 3 * (1 + F); F's definition.
        let expect = |f: usize| 1 + f + 1 + 3 * (1 + f) + f;
        assert_eq!(cost(doc).fields, expect(5));
        assert_eq!(
            cost_with(doc, serde_json::json!({"n": 10})).fields,
            expect(21)
        );
        // Two operations declare `$n` with different defaults: whichever
        // runs, F counts no less than it can.
        let two = "query A($n: Int = 2) { ...F } query B($n: Int = 50) { ...F }
            fragment F on Query { feed(first: $n) { nodes { id } } }";
        assert_eq!(cost(two).fields, 3 * (1 + 50 * 2));
    }

    #[test]
    fn multiplied_connections_saturate_in_linear_time() {
        let nested = format!(
            "{{ {}id{} }}",
            "followers(first: 100) { nodes { ".repeat(10),
            " } }".repeat(10)
        );
        let c = cost(&nested);
        assert_eq!(c.fields, usize::MAX, "about 2 * 100^10");
        assert_eq!((c.written, c.depth), (21, 21));

        // 40 levels of two spreads, each inside a connection: 200^40 if
        // expanded; measured once per fragment.
        let around = ("followers(first: 100) { nodes { ", " } }");
        let doc = fan_out(40, "Profile", around, "id");
        let c = cost(&doc);
        assert_eq!(c.fields, usize::MAX);
        assert_eq!(c.written, 81);
    }

    #[test]
    fn first_zero_does_not_hide_a_fan_out() {
        // Validation would walk 2^64 fields; each counts at least once.
        let doc = fan_out(64, "Profile", ("followers(first: 0) { ", " }"), "id");
        assert_eq!(cost(&doc).fields, usize::MAX);
    }

    /// The fields whose type is a `…Connection!`, from the schema's SDL,
    /// and the fields of any other type.
    fn connection_fields_of_the_schema() -> (BTreeSet<String>, BTreeSet<String>) {
        use async_graphql::parser::types::{BaseType, TypeKind, TypeSystemDefinition};

        let options = crate::config::Config::defaults().documents;
        let sdl = crate::graphql::build_schema(&options, None).sdl();
        let doc = async_graphql::parser::parse_schema(&sdl).unwrap();
        let (mut connections, mut others) = (BTreeSet::new(), BTreeSet::new());
        for def in &doc.definitions {
            let TypeSystemDefinition::Type(t) = def else {
                continue;
            };
            let fields = match &t.node.kind {
                TypeKind::Object(o) => &o.fields,
                TypeKind::Interface(i) => &i.fields,
                _ => continue,
            };
            for f in fields {
                let ty = &f.node.ty.node;
                let name = f.node.name.node.to_string();
                match &ty.base {
                    BaseType::Named(n) if !ty.nullable && n.ends_with("Connection") => {
                        let first = f
                            .node
                            .arguments
                            .iter()
                            .find(|a| a.node.name.node == "first");
                        let default = first.and_then(|a| a.node.default_value.as_ref());
                        assert_eq!(
                            default.map(|d| d.node.to_string()),
                            Some(DEFAULT_FIRST.to_string()),
                            "{}.{name}(first: Int = {DEFAULT_FIRST})",
                            t.node.name.node
                        );
                        connections.insert(name)
                    }
                    _ => others.insert(name),
                };
            }
        }
        (connections, others)
    }

    #[test]
    fn the_connection_list_is_the_schemas_connection_fields() {
        let (connections, others) = connection_fields_of_the_schema();
        let list: BTreeSet<String> = CONNECTIONS.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(connections, list);
        assert!(
            others.is_disjoint(&list),
            "a field of another type shares a connection's name: {:?}",
            others.intersection(&list).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_list_field_counts_its_first_with_its_own_default() {
        // notifications 1 + 20 * (nodes 1 + actors 1 + 3 * id).
        let doc = "{ notifications { nodes { actors { id } } } }";
        assert_eq!(cost(doc).fields, 1 + 20 * (2 + 3));
        let ten = "{ notifications(first: 5) { nodes { actors(first: 10) { id } } } }";
        assert_eq!(cost(ten).fields, 1 + 5 * (2 + 10));
        let var =
            "query($a: Int) { notifications(first: 1) { nodes { actors(first: $a) { id } } } }";
        assert_eq!(
            cost_with(var, serde_json::json!({"a": null})).fields,
            1 + 2 + 3
        );
        assert_eq!(
            cost_with(var, serde_json::json!({"a": 100})).fields,
            1 + 2 + 100
        );
        let two = "query A($a: Int = 7) { ...F } query B($a: Int = null) { ...F }
            fragment F on Query { notifications(first: 1) { nodes { actors(first: $a) { id } } } }";
        assert_eq!(
            cost(two).fields,
            3 * (1 + 2 + 7),
            "the larger of 7 and the field's default"
        );
    }

    #[test]
    fn each_list_field_is_a_list_of_the_schema_with_that_default() {
        use async_graphql::parser::types::{BaseType, TypeKind, TypeSystemDefinition};

        let options = crate::config::Config::defaults().documents;
        let sdl = crate::graphql::build_schema(&options, None).sdl();
        let doc = async_graphql::parser::parse_schema(&sdl).unwrap();
        for (list, default) in LISTS {
            let mut found = 0;
            for def in &doc.definitions {
                let TypeSystemDefinition::Type(t) = def else {
                    continue;
                };
                let TypeKind::Object(o) = &t.node.kind else {
                    continue;
                };
                for f in o.fields.iter().filter(|f| f.node.name.node == list) {
                    found += 1;
                    assert!(
                        matches!(f.node.ty.node.base, BaseType::List(_)),
                        "{list} is a list"
                    );
                    let first = f
                        .node
                        .arguments
                        .iter()
                        .find(|a| a.node.name.node == "first");
                    match first {
                        // `first`'s default is the count.
                        Some(a) => assert_eq!(
                            a.node.default_value.as_ref().map(|d| d.node.to_string()),
                            Some(default.to_string()),
                            "{list}(first:)"
                        ),
                        // No `first`: a list of that bound (`ancestors`).
                        None => assert!(f.node.arguments.is_empty(), "{list} takes no argument"),
                    }
                }
            }
            assert_eq!(found, 1, "one field of the schema is named {list}");
        }
    }

    #[test]
    fn directives_are_counted_wherever_they_sit() {
        assert_eq!(
            cost("{ a @skip(if: false) @include(if: true) }").directives,
            2
        );
        assert_eq!(
            cost("{ ... @include(if: true) @include(if: true) @skip(if: false) { a } }").directives,
            3
        );
        assert_eq!(cost("query Q @a @b @c @d { a }").directives, 4);
        assert_eq!(
            cost("{ ...F @a } fragment F on Query @a @b { a }").directives,
            2
        );
        assert_eq!(cost("query($v: Int @a @b @c) { a }").directives, 3);
    }

    #[tokio::test]
    async fn the_complexity_limit_admits_its_own_count_and_refuses_one_more() {
        let schema = schema_with(|o| o.complexity_limit = 10);
        // The definition (3) and each spread of it (3) count.
        let frag = "fragment F on Query { a: __typename b: __typename c: __typename }";
        assert_eq!(
            refusal(&schema, &format!("{{ ...F ...F __typename }} {frag}")).await,
            None
        );
        let (code, message) = refusal(&schema, &format!("{{ ...F ...F ...F }} {frag}"))
            .await
            .unwrap();
        assert_eq!(code, VALIDATION_FAILED);
        assert_eq!(
            message,
            "The document selects 12 fields once its fragments are expanded \
             and each connection's selection is counted `first` times; \
             at most 10 are allowed (QUERY_COMPLEXITY_LIMIT)."
        );
    }

    #[tokio::test]
    async fn fragments_spread_inside_fragments_count_at_every_spread() {
        let schema = schema_with(|o| o.complexity_limit = 30);
        // G holds 2 spreads of F (2 each): 4; the operation spreads G twice.
        let doc = "{ ...G ...G } fragment G on Query { ...F ...F } fragment F on Query { a: __typename b: __typename }";
        // Operation 8, G's definition 4, F's definition 2.
        assert_eq!(refusal(&schema, doc).await, None);
        let schema = schema_with(|o| o.complexity_limit = 13);
        let (_, message) = refusal(&schema, doc).await.unwrap();
        assert!(message.contains("selects 14 fields"), "{message}");
    }

    /// The complexity limit's message for `request`, if that limit refused
    /// it (the connection fields need not exist: the limit runs before
    /// validation).
    async fn too_complex(schema: &ApiSchema, request: Request) -> Option<String> {
        let r = schema.execute(request).await;
        r.errors
            .iter()
            .find(|e| e.message.contains("QUERY_COMPLEXITY_LIMIT"))
            .map(|e| {
                let code = e.extensions.as_ref().and_then(|x| x.get("code"));
                assert_eq!(
                    code,
                    Some(&async_graphql::Value::from(VALIDATION_FAILED)),
                    "{e:?}"
                );
                assert!(r.data == async_graphql::Value::Null, "nothing ran");
                e.message.clone()
            })
    }

    #[tokio::test]
    async fn followers_of_followers_of_followers_are_refused() {
        let doc = r#"{ profile(handle: "alice") {
            followers(first: 100) { edges { node {
                followers(first: 100) { edges { node {
                    followers(first: 100) { edges { node { handle } } }
                } } }
            } } }
        } }"#;
        // 11 fields as written. The innermost followers: 1 + 100 * 3 = 301;
        // the middle: 1 + 100 * (2 + 301) = 30,301; the outer: 1 + 100 *
        // (2 + 30,301) = 3,030,301; profile 1 more.
        let message = too_complex(&schema_with(|_| {}), Request::new(doc))
            .await
            .unwrap();
        assert_eq!(
            message,
            "The document selects 3030302 fields once its fragments are expanded \
             and each connection's selection is counted `first` times; \
             at most 1000 are allowed (QUERY_COMPLEXITY_LIMIT)."
        );
    }

    #[tokio::test]
    async fn a_full_feed_page_with_a_handful_of_fields_is_admitted() {
        let doc = "{ feed(first: 100) { edges { node { id body } } } }";
        let figure = cost(doc).fields;
        assert_eq!(
            figure,
            1 + 100 * 4,
            "feed, then edges, node, id and body a hundred times"
        );
        assert_eq!(
            too_complex(&schema_with(|_| {}), Request::new(doc)).await,
            None
        );
        let at = schema_with(|o| o.complexity_limit = figure);
        assert_eq!(too_complex(&at, Request::new(doc)).await, None);
        let below = schema_with(|o| o.complexity_limit = figure - 1);
        let message = too_complex(&below, Request::new(doc)).await.unwrap();
        assert!(
            message.starts_with("The document selects 401 fields"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn first_is_read_from_the_request_variables() {
        let schema = schema_with(|o| o.complexity_limit = 400);
        let doc = "query($n: Int = 100) { feed(first: $n) { edges { node { id body } } } }";
        let with = |n: serde_json::Value| {
            Request::new(doc).variables(Variables::from_json(serde_json::json!({ "n": n })))
        };
        // 1 + 99 * 4 = 397 is within; 1 + 100 * 4 = 401 is not.
        assert_eq!(too_complex(&schema, with(99.into())).await, None);
        let message = too_complex(&schema, with(100.into())).await.unwrap();
        assert!(
            message.starts_with("The document selects 401 fields"),
            "{message}"
        );
        let defaulted = too_complex(&schema, Request::new(doc)).await.unwrap();
        assert!(
            defaulted.starts_with("The document selects 401 fields"),
            "{defaulted}"
        );
    }

    #[tokio::test]
    async fn an_exponential_fan_out_is_refused_before_anything_expands_it() {
        let doc = fan_out(64, "Query", ("", ""), "__typename");
        let (code, message) = refusal(&schema_with(|_| {}), &doc).await.unwrap();
        assert_eq!(code, VALIDATION_FAILED);
        assert!(
            message.contains("more fields than can be counted"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_fragment_cycle_is_refused() {
        let doc = "{ ...A } fragment A on Query { __typename ...B } fragment B on Query { ...A }";
        let (code, message) = refusal(&schema_with(|_| {}), doc).await.unwrap();
        assert_eq!(code, VALIDATION_FAILED);
        assert!(message.contains("spreads itself"), "{message}");
    }

    #[tokio::test]
    async fn depth_counts_typename_and_fields_inside_fragments() {
        let schema = schema_with(|o| o.depth_limit = 1);
        assert_eq!(
            refusal(&schema, "{ __typename me { __typename } }")
                .await
                .unwrap()
                .0,
            VALIDATION_FAILED
        );
        let (_, message) = refusal(&schema, "{ ...F } fragment F on Query { me { id } }")
            .await
            .unwrap();
        assert_eq!(
            message,
            "The document nests fields 2 deep; at most 1 are allowed (QUERY_DEPTH_LIMIT)."
        );
    }

    #[tokio::test]
    async fn directives_count_on_fragments_and_operations_too() {
        let schema = schema_with(|o| o.directive_limit = 1);
        for doc in [
            "{ ... @include(if: true) @skip(if: false) { __typename } }",
            "{ ...F @include(if: true) @skip(if: false) } fragment F on Query { __typename }",
            "{ __typename @include(if: true) @skip(if: false) }",
        ] {
            let (code, message) = refusal(&schema, doc).await.unwrap();
            assert_eq!(code, PARSE_FAILED, "{doc}");
            assert!(message.ends_with("(QUERY_DIRECTIVE_LIMIT)."), "{message}");
        }
        assert_eq!(
            refusal(&schema, "{ __typename @include(if: true) }").await,
            None
        );
    }
}
