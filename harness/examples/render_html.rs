//! Renders a results JSON as the HTML report, for looking at the page while working on it:
//! `cargo run -q -p harness --example render_html -- RESULTS.json OUT.html`.
//! (`harness report render` is the front door.)

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: render_html RESULTS.json OUT.html");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(input).unwrap_or_else(|e| {
        eprintln!("{input}: {e}");
        std::process::exit(2)
    });
    let doc = harness::results::ResultsDoc::from_json(&text).unwrap_or_else(|e| {
        eprintln!("{input}: {e}");
        std::process::exit(2)
    });
    if let Err(e) = std::fs::write(output, harness::report::html::render(&doc)) {
        eprintln!("{output}: {e}");
        std::process::exit(1);
    }
}
