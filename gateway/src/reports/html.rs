//! A [`Document`] as one printable HTML page: no script, no external resource, print CSS
//! for A4, every value escaped.

use super::{Block, Document, Lang};

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:'Noto Sans CJK SC','Noto Sans SC','Source Han Sans SC',sans-serif;\
margin:2em auto;max-width:60em;color:#111;font-size:14px}\
h1{font-size:1.6em;margin:0 0 .2em}p.sub{color:#555;margin:0 0 1.5em}\
h2{font-size:1.15em;border-bottom:1px solid #999;padding-bottom:.2em;margin-top:1.6em}\
table{border-collapse:collapse;width:100%;margin:.5em 0}\
th,td{border:1px solid #bbb;padding:.25em .5em;text-align:left;vertical-align:top;word-break:break-word}\
th{background:#eee}dl{display:grid;grid-template-columns:12em 1fr;gap:.2em 1em}dt{color:#444}dd{margin:0}\
@page{size:A4;margin:15mm}@media print{body{margin:0;max-width:none;font-size:11px}\
h2{break-after:avoid}tr{break-inside:avoid}}";

/// The page.
pub fn render(doc: &Document, lang: Lang) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{}</title>\
         <style>{STYLE}</style></head><body>\n<h1>{}</h1>\n<p class=\"sub\">{}</p>\n",
        lang.code(),
        esc(&doc.title),
        esc(&doc.title),
        esc(&doc.subtitle)
    );
    for s in &doc.sections {
        out.push_str(&format!("<section><h2>{}</h2>\n", esc(&s.heading)));
        for b in &s.blocks {
            match b {
                Block::Fields(f) => {
                    out.push_str("<dl>");
                    for (k, v) in f {
                        out.push_str(&format!("<dt>{}</dt><dd>{}</dd>", esc(k), esc(v)));
                    }
                    out.push_str("</dl>\n");
                }
                Block::Table { head, rows } => {
                    out.push_str("<table><thead><tr>");
                    for h in head {
                        out.push_str(&format!("<th>{}</th>", esc(h)));
                    }
                    out.push_str("</tr></thead><tbody>");
                    for row in rows {
                        out.push_str("<tr>");
                        for c in row {
                            out.push_str(&format!("<td>{}</td>", esc(c)));
                        }
                        out.push_str("</tr>");
                    }
                    out.push_str("</tbody></table>\n");
                }
                Block::Text(t) => out.push_str(&format!("<p>{}</p>\n", esc(t))),
            }
        }
        out.push_str("</section>\n");
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::Section;

    #[test]
    fn values_are_escaped() {
        let doc = Document {
            title: "故障处理报告".into(),
            subtitle: "<b>".into(),
            sections: vec![Section {
                heading: "h".into(),
                blocks: vec![Block::Text("<script>x</script>".into())],
            }],
        };
        let html = render(&doc, Lang::Zh);
        assert!(html.contains("&lt;script&gt;") && !html.contains("<script>"));
        assert!(html.contains("<h1>故障处理报告</h1>"));
    }
}
