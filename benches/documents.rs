//! The CPU time of the worst documents a client can send in one request
//! body under the default limits: each is built to fit the default body
//! limit (64 KiB as the JSON body `{"query": …}`) and run through the schema
//! built with the default limits, in-process and without a database (they
//! are refused, or select only `__typename`, introspection, or fields that
//! need no database for an anonymous caller). Prints one row per document:
//! its size, what the server did with it, and the median thread CPU time of
//! one request, from the scan of its text to the response; then the worst.
//! Each document is built at the body limit and as large as the limits
//! admit (found by bisection); each run appends a distinct comment, so no
//! run is a cache hit.
//!
//!   cargo bench --bench documents                 # 200 runs of each
//!   cargo bench --bench documents -- fragment     # only names containing it
//!   cargo test --bench documents                  # each once, no timing

use async_graphql::{Request, Variables};
use cpu_time::ThreadTime;
use serde_json::{Value, json};
use sns_api::config::Config;
use sns_api::graphql::{ApiSchema, build_schema};

/// Room left in the body for the per-run comment (`\n#00123`).
const SLACK: usize = 8;

/// One document and what comes with it in the body.
struct Doc {
    query: String,
    operation_name: Option<&'static str>,
    variables: Value,
}

impl Doc {
    fn new(query: String) -> Self {
        Self {
            query,
            operation_name: None,
            variables: Value::Null,
        }
    }

    fn body(&self, query: &str) -> Value {
        let mut body = json!({ "query": query });
        if let Some(name) = self.operation_name {
            body["operationName"] = json!(name);
        }
        if !self.variables.is_null() {
            body["variables"] = self.variables.clone();
        }
        body
    }

    fn body_len(&self, query: &str) -> usize {
        serde_json::to_vec(&self.body(query)).unwrap().len()
    }

    fn request(&self, run: usize) -> Request {
        let mut r = Request::new(format!("{}\n#{run:05}", self.query));
        if let Some(name) = self.operation_name {
            r = r.operation_name(name);
        }
        if !self.variables.is_null() {
            r = r.variables(Variables::from_json(self.variables.clone()));
        }
        r
    }
}

/// A family of documents that grows with `n`.
struct Shape {
    name: &'static str,
    build: Box<dyn Fn(usize) -> Doc>,
}

fn shape(name: &'static str, query: impl Fn(usize) -> String + 'static) -> Shape {
    Shape {
        name,
        build: Box::new(move |n| Doc::new(query(n))),
    }
}

/// The largest `n` >= 1 for which `ok(build(n))` holds, `ok` being true up
/// to some `n` and false after; `None` when not even 1 is.
fn largest(build: &dyn Fn(usize) -> Doc, ok: &dyn Fn(&Doc) -> bool) -> Option<Doc> {
    if !ok(&build(1)) {
        return None;
    }
    let (mut good, mut bad) = (1, 2);
    while ok(&build(bad)) {
        good = bad;
        bad *= 2;
    }
    while bad - good > 1 {
        let mid = good + (bad - good) / 2;
        if ok(&build(mid)) {
            good = mid;
        } else {
            bad = mid;
        }
    }
    Some(build(good))
}

/// GraphiQL's introspection query (graphql-js `getIntrospectionQuery` with
/// every option on), as GraphiQL sends it.
const INTROSPECTION: &str = include_str!("../src/graphql/introspection.graphql");

fn shapes() -> Vec<Shape> {
    let aliased = |field: &'static str| {
        move |n: usize| -> String {
            let fields: String = (0..n).map(|i| format!("a{i}: {field} ")).collect();
            format!("{{ {fields}}}")
        }
    };
    let nested = |head: &'static str,
                  open: &'static str,
                  inner: &'static str,
                  close: &'static str,
                  tail: &'static str| {
        move |n: usize| format!("{head}{}{inner}{}{tail}", open.repeat(n), close.repeat(n))
    };
    let mut shapes = vec![
        shape("aliased __typename", aliased("__typename")),
        shape("aliased me { id } (null)", aliased("me { id }")),
        shape(
            "aliased sessions { id } (an error each)",
            aliased("sessions { id }"),
        ),
        shape("unknown fields (an error each)", |n| {
            format!(
                "{{ {}}}",
                (0..n).map(|i| format!("f{i} ")).collect::<String>()
            )
        }),
        shape("spreads of a one-field fragment", |n| {
            format!(
                "{{ {}}} fragment F on Query {{ __typename }}",
                "...F ".repeat(n)
            )
        }),
        shape("distinct fragments, each spread once", |n| {
            let spreads: String = (0..n).map(|i| format!("...F{i} ")).collect();
            let defs: String = (0..n)
                .map(|i| format!("fragment F{i} on Query {{ __typename }} "))
                .collect();
            format!("{{ {spreads}}} {defs}")
        }),
        shape("a chain of fragments", |n| {
            let defs: String = (0..n)
                .map(|i| format!("fragment F{i} on Query {{ __typename ...F{} }} ", i + 1))
                .collect();
            format!("{{ ...F0 }} {defs}fragment F{n} on Query {{ __typename }}")
        }),
        shape(
            "nested list argument",
            nested("{ __typename(a: ", "[", "1", "]", ") }"),
        ),
        shape(
            "nested input object",
            nested("{ __typename(a: ", "{a:", "1", "}", ") }"),
        ),
        shape("nested selection sets", nested("", "{ a ", "", "}", "")),
        shape(
            "nested inline fragments",
            nested("{ ", "... { ", "__typename", " }", " }"),
        ),
        shape("directives on one field", |n| {
            format!("{{ __typename {}}}", "@skip(if: false) ".repeat(n))
        }),
        shape("directives on one inline fragment", |n| {
            format!(
                "{{ ... {}{{ __typename }} }}",
                "@include(if: true) ".repeat(n)
            )
        }),
        shape("variable definitions", |n| {
            let vars: String = (0..n).map(|i| format!("$v{i}: Int ")).collect();
            format!("query Q({vars}) {{ __typename }}")
        }),
        shape("arguments on one field", |n| {
            let args: String = (0..n).map(|i| format!("a{i}: 0 ")).collect();
            format!("{{ me({args}) {{ id }} }}")
        }),
        shape("a list argument", |n| {
            format!("{{ __typename(a: [{}]) }}", "1 ".repeat(n))
        }),
        shape("a long string argument", |n| {
            format!("{{ __typename(a: \"{}\") }}", "x".repeat(n))
        }),
        shape("a long block string argument", |n| {
            format!("{{ __typename(a: \"\"\"{}\"\"\") }}", "x".repeat(n))
        }),
        shape("a long comment", |n| {
            format!("#{}\n{{ __typename }}", "x".repeat(n))
        }),
        shape("a long alias", |n| {
            format!("{{ {}: __typename }}", "a".repeat(n))
        }),
        shape("whitespace", |n| {
            format!("{{ __typename{}}}", " ".repeat(n))
        }),
        shape(
            "__schema { types { fields { name } } } aliased",
            aliased("__schema { types { fields { name } } }"),
        ),
        Shape {
            name: "operations, one named",
            build: Box::new(|n| {
                let ops: String = (0..n)
                    .map(|i| format!("query Q{i} {{ __typename }} "))
                    .collect();
                let mut d = Doc::new(ops);
                d.operation_name = Some("Q0");
                d
            }),
        },
        Shape {
            name: "a list variable the document declares",
            build: Box::new(|n| {
                let mut d = Doc::new("query Q($v: [Int]) { __typename }".into());
                d.variables = json!({ "v": vec![1; n] });
                d
            }),
        },
    ];
    shapes.push(shape("__schema nested", deep_introspection));
    // Eight times longer each step: past 5 it no longer fits the body.
    shapes.push(shape("__schema, every __Type field once", |n| {
        format!(
            "{{ __schema {{ types {{ {} }} }} }}",
            every_type_field(n.min(5))
        )
    }));
    shapes
}

/// The documents of one size each: a few fixed ones, then each shape at the
/// body limit and as large as the limits admit (`admitted`).
fn documents(config: &Config, admitted: &dyn Fn(&Doc) -> bool) -> Vec<(String, Doc)> {
    let fits = |d: &Doc| d.body_len(&d.query) + SLACK <= config.body_limit;
    let fixed = |name: &str, query: String| (name.to_owned(), Doc::new(query));
    let mut docs = vec![
        fixed(
            "3000 aliased __typename",
            shapes()[0].build.as_ref()(3000).query,
        ),
        fixed(
            "fragment fan-out 2^40 (40 levels of 2 spreads)",
            fan_out(40, 2),
        ),
        fixed(
            "fragment fan-out 10^10 (10 levels of 10 spreads)",
            fan_out(10, 10),
        ),
        fixed(
            "connection fan-out 200^40 (40 levels of 2 spreads in followers(first: 100))",
            connection_fan_out(40),
        ),
        fixed("GraphiQL's introspection query", INTROSPECTION.to_owned()),
    ];
    for s in shapes() {
        let at_body = largest(s.build.as_ref(), &fits);
        let within = largest(s.build.as_ref(), &|d| fits(d) && admitted(d));
        if let Some(d) = at_body
            && within.as_ref().is_none_or(|w| w.query != d.query)
        {
            docs.push((format!("{}, to the body limit", s.name), d));
        }
        if let Some(d) = within {
            docs.push((format!("{}, as large as admitted", s.name), d));
        }
    }
    docs
}

/// `levels` fragments, each spreading the next `width` times.
fn fan_out(levels: usize, width: usize) -> String {
    let mut q = String::from("{ ...F0 } ");
    for i in 0..levels {
        let spreads = format!("...F{} ", i + 1).repeat(width);
        q.push_str(&format!("fragment F{i} on Query {{ {spreads}}} "));
    }
    q.push_str(&format!("fragment F{levels} on Query {{ __typename }}"));
    q
}

/// `levels` fragments, each spreading the next twice inside a connection of
/// a hundred: each level counts 200 times the next.
fn connection_fan_out(levels: usize) -> String {
    let mut q = String::from("{ profile(handle: \"a\") { ...F0 } } ");
    for i in 0..levels {
        q.push_str(&format!(
            "fragment F{i} on Profile {{ followers(first: 100) {{ nodes {{ ...F{n} ...F{n} }} }} }} ",
            n = i + 1
        ));
    }
    q.push_str(&format!("fragment F{levels} on Profile {{ handle }}"));
    q
}

/// `__schema { types { fields { name type { fields { name type { … } } } } } }`:
/// each level a list of every field of a type; `levels` adds two to the
/// depth of 4.
fn deep_introspection(levels: usize) -> String {
    format!(
        "{{ __schema {{ types {{ {}fields {{ name }}{} }} }} }}",
        "fields { name type { ".repeat(levels),
        " } }".repeat(levels)
    )
}

/// A selection of every list and link of `__Type`, `depth` levels down.
fn every_type_field(depth: usize) -> String {
    if depth == 0 {
        return "name".into();
    }
    let next = every_type_field(depth - 1);
    format!(
        "kind name ofType {{ {next} }} interfaces {{ {next} }} possibleTypes {{ {next} }} \
         fields {{ name args {{ name type {{ {next} }} }} type {{ {next} }} }} \
         inputFields {{ name type {{ {next} }} }} enumValues {{ name }}"
    )
}

/// What the server did with a response.
fn outcome(r: &async_graphql::Response) -> String {
    if r.errors.is_empty() {
        return "executed".into();
    }
    let code = r.errors[0]
        .extensions
        .as_ref()
        .and_then(|e| e.get("code"))
        .map_or_else(|| "no code".to_owned(), |c| c.to_string().replace('"', ""));
    if r.data == async_graphql::Value::Null {
        format!("refused: {code}")
    } else {
        format!("executed, {} errors ({code})", r.errors.len())
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; `cargo test` runs each document once.
    let timed = args.iter().any(|a| a == "--bench");
    let filter = args.iter().find(|a| !a.starts_with('-'));
    let runs = if timed { 200 } else { 1 };
    let config = Config::defaults();
    let schema: ApiSchema = build_schema(&config.documents, None);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // Whether a document passes every limit (it may still fail validation,
    // or run with errors): no error is a limit's. Asked of another schema,
    // so that the measured one has cached nothing.
    let probe = build_schema(&config.documents, None);
    let admitted = |d: &Doc| {
        let r = rt.block_on(probe.execute(d.request(0)));
        !r.errors
            .iter()
            .any(|e| e.message.contains("at most") || e.message.contains("once is allowed"))
    };
    let documents = documents(&config, &admitted);

    println!("| document | body bytes | outcome | CPU µs (median of {runs}) |");
    println!("| --- | ---: | --- | ---: |");
    let mut worst: Option<(f64, &str)> = None;
    for (name, doc) in documents
        .iter()
        .filter(|(name, _)| filter.is_none_or(|f| name.contains(f.as_str())))
    {
        let mut times = Vec::with_capacity(runs);
        let mut last = None;
        for run in 0..runs {
            let request = doc.request(run);
            // The runtime is on this thread and async-graphql spawns nothing,
            // so this thread's CPU time is the request's.
            let start = ThreadTime::now();
            let response = rt.block_on(schema.execute(request));
            times.push(start.elapsed().as_secs_f64() * 1e6);
            last = Some(response);
        }
        let us = median(times);
        let bytes = doc.body_len(&doc.query) + SLACK;
        let outcome = outcome(last.as_ref().unwrap());
        println!("| {name} | {bytes} | {outcome} | {us:.0} |");
        if worst.is_none_or(|(w, _)| us > w) {
            worst = Some((us, name));
        }
    }
    if let Some((us, name)) = worst {
        println!("\nworst: {name}, {us:.0} µs of CPU");
    }
}
