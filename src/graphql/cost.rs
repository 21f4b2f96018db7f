//! What a parsed document costs to validate and run, counted on its syntax
//! alone: the fields as written, the fields that validation and execution
//! walk (every operation and fragment definition, each fragment spread
//! counting its fragment's fields again), the deepest field nesting, and the
//! most directives on one definition or selection. `__typename` and aliases
//! are fields like any other. Each fragment is measured once and its figures
//! reused wherever it is spread, so the count is linear in the document
//! however the fragments fan out.
//!
//! Also what a document asks of introspection, whose fields answer lists as
//! long as the schema (every type, every field of a type): how often it
//! selects `__schema` or `__type`, and whether it selects a field twice in
//! one place within them, which would build such a list again.

use std::collections::{HashMap, HashSet};

use async_graphql::Positioned;
use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};

/// The measures of one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cost {
    /// Fields as written, in every operation and fragment definition.
    pub written: usize,
    /// Fields with fragments expanded, summed over every operation and
    /// fragment definition (validation walks each of them so); saturates.
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
    fields: usize,
    depth: usize,
    /// Each spread, with the field depth it sits at.
    spreads: Vec<(&'a str, usize)>,
}

/// A definition's figures with its spreads expanded.
#[derive(Debug, Clone, Copy, Default)]
struct Expanded {
    fields: usize,
    depth: usize,
}

/// Measures `doc`.
pub(super) fn measure(doc: &ExecutableDocument) -> Result<Cost, Cycle> {
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
            (name.as_str(), body(&f.node.selection_set, &mut cost))
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
            body(&op.selection_set, &mut cost)
        })
        .collect();
    cost.written = fragments
        .values()
        .chain(&operations)
        .map(|b| b.fields)
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
fn body<'a>(set: &'a Positioned<SelectionSet>, cost: &mut Cost) -> Body<'a> {
    let mut body = Body::default();
    walk(&set.node, 0, &mut body, cost);
    body
}

/// Adds the selections of `set`, whose fields sit at `depth` + 1, to `body`.
/// Recurses once per nesting level, which the parser bounds.
fn walk<'a>(set: &'a SelectionSet, depth: usize, body: &mut Body<'a>, cost: &mut Cost) {
    for item in &set.items {
        cost.directives = cost.directives.max(item.node.directives().len());
        match &item.node {
            Selection::Field(f) => {
                body.fields += 1;
                body.depth = body.depth.max(depth + 1);
                walk(&f.node.selection_set.node, depth + 1, body, cost);
            }
            Selection::InlineFragment(f) => walk(&f.node.selection_set.node, depth, body, cost),
            Selection::FragmentSpread(s) => body
                .spreads
                .push((s.node.fragment_name.node.as_str(), depth)),
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
        |acc, (name, at)| {
            let f = done.get(name).copied().unwrap_or_default();
            Expanded {
                fields: acc.fields.saturating_add(f.fields),
                depth: acc.depth.max(if f.fields == 0 { 0 } else { at + f.depth }),
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
        if let Some(&(spread, _)) = body.spreads.get(*next) {
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

/// What a document asks of introspection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Introspection {
    /// How many times `__schema` or `__type` is selected, fragments expanded.
    pub roots: usize,
    /// A field selected twice in one selection set under them (by aliases,
    /// or by fragments that repeat it).
    pub repeated: Option<String>,
}

/// Walks the operations of `doc` with fragments expanded: call it only on a
/// document whose expanded size `measure` found within the limits.
pub(super) fn introspection(doc: &ExecutableDocument) -> Introspection {
    let mut found = Introspection::default();
    for (_, op) in doc.operations.iter() {
        each_field(doc, &op.node.selection_set.node, &mut |f| {
            find_roots(doc, f, &mut found)
        });
    }
    found
}

/// Calls `f` on each field of `set`, through inline fragments and spreads.
fn each_field<'a>(
    doc: &'a ExecutableDocument,
    set: &'a SelectionSet,
    f: &mut dyn FnMut(&'a Field),
) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => f(&field.node),
            Selection::InlineFragment(i) => each_field(doc, &i.node.selection_set.node, f),
            Selection::FragmentSpread(s) => {
                if let Some(frag) = doc.fragments.get(&s.node.fragment_name.node) {
                    each_field(doc, &frag.node.selection_set.node, f);
                }
            }
        }
    }
}

fn find_roots(doc: &ExecutableDocument, field: &Field, found: &mut Introspection) {
    if matches!(field.name.node.as_str(), "__schema" | "__type") {
        found.roots += 1;
        each_once(doc, field, found);
    } else {
        each_field(doc, &field.selection_set.node, &mut |f| {
            find_roots(doc, f, found)
        });
    }
}

/// Notes in `found` the first field that `field`'s selections, at any
/// depth, select twice in one place.
fn each_once(doc: &ExecutableDocument, field: &Field, found: &mut Introspection) {
    let mut names = HashSet::new();
    each_field(doc, &field.selection_set.node, &mut |f| {
        if !names.insert(f.name.node.as_str()) && found.repeated.is_none() {
            found.repeated = Some(f.name.node.to_string());
        }
        each_once(doc, f, found);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(query: &str) -> Cost {
        measure(&async_graphql::parser::parse_query(query).unwrap()).unwrap()
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
        let mut doc = String::from("{ ...F0 }");
        for i in 0..200 {
            doc.push_str(&format!(
                " fragment F{i} on Query {{ ...F{n} ...F{n} }}",
                n = i + 1
            ));
        }
        doc.push_str(" fragment F200 on Query { a }");
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
        let Cycle(name) = measure(&doc).unwrap_err();
        assert!(name == "A" || name == "B", "{name}");
        let itself =
            async_graphql::parser::parse_query("{ ...A } fragment A on Query { ...A }").unwrap();
        assert_eq!(measure(&itself).unwrap_err(), Cycle("A".into()));
    }

    #[test]
    fn an_unknown_fragment_adds_nothing() {
        assert_eq!(cost("{ a ...Nope }").fields, 1);
    }

    fn asked(query: &str) -> Introspection {
        introspection(&async_graphql::parser::parse_query(query).unwrap())
    }

    #[test]
    fn introspection_roots_are_counted_through_fragments() {
        assert_eq!(asked("{ __typename me { id } }").roots, 0);
        assert_eq!(asked("{ __schema { types { name } } }").roots, 1);
        let twice = "{ ...F ...F } fragment F on Query { __type(name: \"User\") { name } }";
        assert_eq!(asked(twice).roots, 2);
        assert_eq!(
            asked("{ a: __schema { types { name } } b: __type(name: \"X\") { name } }").roots,
            2
        );
    }

    #[test]
    fn a_field_repeated_inside_introspection_is_found_however_it_is_repeated() {
        let once = "{ __schema { types { name fields { name } } queryType { name } } }";
        assert_eq!(asked(once).repeated, None, "one name in two places is fine");
        for twice in [
            "{ __schema { a: types { name } b: types { name } } }",
            "{ __schema { types { ...T ...T } } } fragment T on __Type { fields { name } }",
            "{ __schema { types { fields { name ... on __Field { name } } } } }",
        ] {
            assert!(asked(twice).repeated.is_some(), "{twice}");
        }
        assert_eq!(
            asked("{ __schema { types { fields { a: name b: name } } } }").repeated,
            Some("name".to_owned())
        );
        assert_eq!(
            asked("{ a: me { id } b: me { id } }").repeated,
            None,
            "only introspection"
        );
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
}
