//! PLACEHOLDER, to be replaced by the html helper's module at merge (issue 11, item 2): a
//! minimal valid HTML page with the grid as a plain table, so `harness report` has an `html`
//! format to write until then. The contract it keeps is the real module's:
//! `pub fn render(doc: &ResultsDoc) -> String`, reading only the document.

use crate::results::ResultsDoc;

/// `doc` as one self-contained HTML page: a table of scenario, cell, status.
pub fn render(doc: &ResultsDoc) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut out = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>harness report</title></head>\n<body>\n",
    );
    out.push_str(&format!("<h1>harness: {}</h1>\n", esc(&doc.summary.line())));
    out.push_str("<table>\n<tr><th>scenario</th><th>cell</th><th>status</th></tr>\n");
    for r in &doc.results {
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            esc(&r.scenario),
            esc(&r.cell.id),
            r.status.word()
        ));
    }
    out.push_str("</table>\n</body>\n</html>\n");
    out
}
