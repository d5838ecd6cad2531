//! The routes the app serves, read from the router's source (`src/http`):
//! every `.route("PATH", get(…).post(…))` call, with its methods. Tests that
//! must cover every route start from this list, so a route added to a
//! router is in them before anyone remembers to add it.

use std::path::Path;

/// A served route: `("POST", "/settings/credentials/{client_id}/rotate")`.
pub type Served = (String, String);

/// Every route of every router under `src/http`, sorted.
pub fn served() -> Vec<Served> {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http"),
        &mut files,
    );
    let mut routes: Vec<Served> = files
        .iter()
        .flat_map(|file| routes_in(&std::fs::read_to_string(file).unwrap()))
        .collect();
    routes.sort();
    routes.dedup();
    assert!(
        routes.len() > 50,
        "the scan found only {} routes",
        routes.len()
    );
    routes
}

fn rust_files(dir: &Path, into: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

/// The routes of one source file. A `.route(` whose path is not a string
/// literal fails, so nothing is served that this list cannot name.
fn routes_in(source: &str) -> Vec<Served> {
    let mut found = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        let call = &rest[at + ".route(".len()..];
        let args = &call[..closing_paren(call)];
        let literal = args.trim_start();
        assert!(
            literal.starts_with('"'),
            "a route whose path is not a literal: .route({args})"
        );
        let path = &literal[1..];
        let path = &path[..path.find('"').unwrap()];
        let handlers = &literal[path.len() + 2..];
        let methods: Vec<&str> = ["get", "post", "put", "patch", "delete"]
            .into_iter()
            .filter(|m| calls(handlers, m))
            .collect();
        assert!(!methods.is_empty(), "no method for {path}: {handlers}");
        for method in methods {
            found.push((method.to_uppercase(), path.to_owned()));
        }
        rest = &call[args.len()..];
    }
    found
}

/// The length of the arguments of a call whose `(` was just passed.
fn closing_paren(text: &str) -> usize {
    let mut depth = 1;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parentheses in a .route( call")
}

/// Whether `text` calls `name(` as a method router (`get(` or `.get(`).
fn calls(text: &str, name: &str) -> bool {
    let pattern = format!("{name}(");
    text.match_indices(&pattern).any(|(i, _)| {
        text[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    })
}

#[test]
fn the_scan_reads_methods_and_paths() {
    let source = r#"
        Router::new()
            .route("/a", get(show).post(save))
            .route(
                "/b/{id}",
                get(|| async { Redirect::to("/c") }),
            )
            .route("/d", post(forms::post_it))
    "#;
    assert_eq!(
        routes_in(source),
        [
            ("GET".to_owned(), "/a".to_owned()),
            ("POST".to_owned(), "/a".to_owned()),
            ("GET".to_owned(), "/b/{id}".to_owned()),
            ("POST".to_owned(), "/d".to_owned()),
        ]
    );
}
