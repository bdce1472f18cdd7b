//! A [`Document`] as an A4 PDF with an embedded subset of a CJK font (pdf-writer for the
//! objects, ttf-parser for glyphs and widths, subsetter for the subset). The font is a
//! Type0/CIDFontType0 (or CIDFontType2 for TrueType outlines) with Identity-H encoding and a
//! ToUnicode map, so `pdftotext` and copy-paste give back the text. One glyph that the font
//! draws for two characters maps back to the first one the page used (Noto CJK draws `·` and
//! `•` alike, so the documents use neither as punctuation beside the `••••` of masked input).
//!
//! The font: `[reports] font`, else Debian's `fonts-noto-cjk` (the Simplified Chinese face
//! of the collection). Missing: an error naming what was looked for and how to fix it.

use std::path::{Path, PathBuf};

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};
use subsetter::GlyphRemapper;

use super::{Block, Document};

/// Where Debian's packages put a CJK font, best first.
pub const DEBIAN_FONTS: &[&str] = &[
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
];

const W: f32 = 595.0;
const H: f32 = 842.0;
const MARGIN: f32 = 50.0;
const BODY: f32 = 9.0;

/// Why a PDF could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// No font found or readable.
    #[error("{0}")]
    Font(String),
    /// The subset could not be made.
    #[error("cannot subset the font {0}: {1}")]
    Subset(PathBuf, String),
}

/// The font file to embed: the configured one, or the first Debian path present.
pub fn find_font(configured: Option<&Path>) -> Result<PathBuf, PdfError> {
    if let Some(p) = configured {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(PdfError::Font(format!(
                "the PDF font {} ([reports] font) does not exist",
                p.display()
            )))
        };
    }
    DEBIAN_FONTS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            PdfError::Font(format!(
                "no CJK font for PDF reports: install Debian's fonts-noto-cjk \
                 (apt-get install fonts-noto-cjk) or set [reports] font; looked at {}",
                DEBIAN_FONTS.join(", ")
            ))
        })
}

/// The face of a collection with Simplified Chinese glyph shapes, else the first.
fn pick_face(data: &[u8]) -> u32 {
    let n = ttf_parser::fonts_in_collection(data).unwrap_or(1);
    (0..n)
        .find(|i| {
            ttf_parser::Face::parse(data, *i).is_ok_and(|f| {
                f.names().into_iter().any(|name| {
                    name.name_id == ttf_parser::name_id::FAMILY
                        && name.to_string().is_some_and(|s| s.ends_with(" SC"))
                })
            })
        })
        .unwrap_or(0)
}

/// Lays text out on pages and remembers the glyphs used.
struct Layout<'f> {
    face: ttf_parser::Face<'f>,
    units: f32,
    remap: GlyphRemapper,
    /// Per new glyph id: the old id and a character it shows.
    used: Vec<(u16, char)>,
    pages: Vec<Content>,
    y: f32,
}

impl Layout<'_> {
    fn glyph(&mut self, c: char) -> u16 {
        let old = self.face.glyph_index(c).map_or(0, |g| g.0);
        let new = self.remap.remap(old);
        if usize::from(new) >= self.used.len() {
            self.used.push((old, c));
        }
        new
    }

    fn advance(&self, c: char, size: f32) -> f32 {
        let g = self.face.glyph_index(c).unwrap_or(ttf_parser::GlyphId(0));
        f32::from(self.face.glyph_hor_advance(g).unwrap_or(0)) / self.units * size
    }

    fn width(&self, s: &str, size: f32) -> f32 {
        s.chars().map(|c| self.advance(c, size)).sum()
    }

    /// `s` broken into lines no wider than `max` (at spaces when a line has one).
    fn wrap(&self, s: &str, size: f32, max: f32) -> Vec<String> {
        let mut lines = Vec::new();
        for para in s.split('\n') {
            let mut line = String::new();
            let mut w = 0.0;
            for c in para.chars() {
                let a = self.advance(c, size);
                if w + a > max && !line.is_empty() {
                    let cut = line.rfind(' ').filter(|i| *i > 0 && c != ' ');
                    match cut {
                        Some(i) => {
                            let rest = line.split_off(i);
                            lines.push(std::mem::take(&mut line));
                            line = rest.trim_start().to_string();
                        }
                        None => lines.push(std::mem::take(&mut line)),
                    }
                    w = self.width(&line, size);
                }
                line.push(c);
                w += a;
            }
            lines.push(line);
        }
        lines
    }

    fn page(&mut self) -> &mut Content {
        if self.pages.is_empty() {
            self.pages.push(Content::new());
        }
        let last = self.pages.len() - 1;
        #[allow(clippy::indexing_slicing)] // not empty: pushed above
        &mut self.pages[last]
    }

    /// Room for `h` more points, or a new page.
    fn need(&mut self, h: f32) {
        if self.pages.is_empty() || self.y - h < MARGIN {
            self.pages.push(Content::new());
            self.y = H - MARGIN;
        }
    }

    fn text(&mut self, x: f32, y: f32, size: f32, s: &str) {
        let mut bytes = Vec::with_capacity(s.len() * 2);
        for c in s.chars().filter(|c| !c.is_control()) {
            bytes.extend_from_slice(&self.glyph(c).to_be_bytes());
        }
        self.page()
            .begin_text()
            .set_font(Name(b"F1"), size)
            .next_line(x, y)
            .show(Str(&bytes))
            .end_text();
    }

    fn rule(&mut self, x0: f32, x1: f32, y: f32) {
        self.page()
            .set_line_width(0.4)
            .move_to(x0, y)
            .line_to(x1, y)
            .stroke();
    }

    fn line(&mut self, size: f32, s: &str, gap: f32) {
        for l in self.wrap(s, size, W - 2.0 * MARGIN) {
            self.need(size * 1.4);
            self.y -= size * 1.4;
            let y = self.y;
            self.text(MARGIN, y, size, &l);
        }
        self.y -= gap;
    }

    fn fields(&mut self, f: &[(String, String)]) {
        let label_w = 110.0;
        for (k, v) in f {
            let lines = self.wrap(v, BODY, W - 2.0 * MARGIN - label_w);
            self.need(BODY * 1.5);
            self.y -= BODY * 1.5;
            let y = self.y;
            self.text(MARGIN, y, BODY, k);
            for (i, l) in lines.iter().enumerate() {
                if i > 0 {
                    self.need(BODY * 1.4);
                    self.y -= BODY * 1.4;
                }
                let y = self.y;
                self.text(MARGIN + label_w, y, BODY, l);
            }
        }
        self.y -= 6.0;
    }

    fn table(&mut self, head: &[String], rows: &[Vec<String>]) {
        let total = W - 2.0 * MARGIN;
        let n = head.len().max(1);
        #[allow(clippy::cast_precision_loss)]
        let n_f = n as f32;
        // Natural widths, each capped at 40%, scaled to the page.
        let natural: Vec<f32> = (0..n)
            .map(|i| {
                std::iter::once(head)
                    .chain(rows.iter().map(Vec::as_slice))
                    .filter_map(|r| r.get(i))
                    .map(|c| self.width(c, BODY) + 6.0)
                    .fold(20.0, f32::max)
                    .min(total * 0.4)
            })
            .collect();
        // Narrow columns keep their width; the wide ones share what is left.
        let fair = total / n_f;
        let narrow: f32 = natural.iter().filter(|w| **w <= fair).sum();
        let wide: f32 = natural.iter().filter(|w| **w > fair).sum();
        let sum: f32 = natural.iter().sum();
        let widths: Vec<f32> = natural
            .iter()
            .map(|w| {
                if sum <= total {
                    w * total / sum
                } else if *w <= fair {
                    *w
                } else {
                    w * (total - narrow) / wide
                }
            })
            .collect();
        for (r, row) in std::iter::once(head)
            .chain(rows.iter().map(Vec::as_slice))
            .enumerate()
        {
            let cells: Vec<Vec<String>> = widths
                .iter()
                .enumerate()
                .map(|(i, w)| self.wrap(row.get(i).map_or("", String::as_str), BODY, w - 6.0))
                .collect();
            let lines = cells.iter().map(Vec::len).max().unwrap_or(1);
            #[allow(clippy::cast_precision_loss)]
            let h = lines as f32 * BODY * 1.35 + 4.0;
            self.need(h);
            let top = self.y;
            if r == 0 {
                self.rule(MARGIN, W - MARGIN, top);
            }
            let mut x = MARGIN;
            for (cell, w) in cells.iter().zip(&widths) {
                for (j, l) in cell.iter().enumerate() {
                    #[allow(clippy::cast_precision_loss)]
                    let y = top - BODY * 1.35 * (j as f32 + 1.0);
                    self.text(x + 3.0, y, BODY, l);
                }
                x += w;
            }
            self.y = top - h;
            let y = self.y;
            self.rule(MARGIN, W - MARGIN, y);
        }
        self.y -= 8.0;
    }
}

/// The document as PDF bytes, with `font` (a path from [`find_font`]) embedded as a subset.
pub fn render(doc: &Document, font: &Path) -> Result<Vec<u8>, PdfError> {
    let data = std::fs::read(font)
        .map_err(|e| PdfError::Font(format!("cannot read the PDF font {}: {e}", font.display())))?;
    let index = pick_face(&data);
    let face = ttf_parser::Face::parse(&data, index)
        .map_err(|e| PdfError::Font(format!("{}: not a usable font ({e})", font.display())))?;
    let units = f32::from(face.units_per_em());
    let mut remap = GlyphRemapper::new();
    remap.remap(0);
    let mut l = Layout {
        face,
        units,
        remap,
        used: vec![(0, ' ')],
        pages: Vec::new(),
        y: H - MARGIN,
    };
    l.need(0.0);
    l.line(18.0, &doc.title, 2.0);
    l.line(8.5, &doc.subtitle, 10.0);
    for s in &doc.sections {
        l.need(40.0);
        l.line(12.5, &s.heading, 4.0);
        let y = l.y;
        l.rule(MARGIN, W - MARGIN, y);
        for b in &s.blocks {
            match b {
                Block::Fields(f) => l.fields(f),
                Block::Table { head, rows } => l.table(head, rows),
                Block::Text(t) => l.line(BODY, t, 4.0),
            }
        }
    }
    let subset = subsetter::subset(&data, index, &l.remap)
        .map_err(|e| PdfError::Subset(font.to_path_buf(), e.to_string()))?;
    let cff = l.face.tables().cff.is_some();
    let pages = std::mem::take(&mut l.pages);
    Ok(write(doc, &l, pages, &subset, cff))
}

fn write(doc: &Document, l: &Layout, pages: Vec<Content>, subset: &[u8], cff: bool) -> Vec<u8> {
    let mut pdf = Pdf::new();
    let mut next = 1;
    let mut alloc = || {
        let r = Ref::new(next);
        next += 1;
        r
    };
    let (catalog, tree, type0, cid, descriptor, file, cmap, info) = (
        alloc(),
        alloc(),
        alloc(),
        alloc(),
        alloc(),
        alloc(),
        alloc(),
        alloc(),
    );
    let page_refs: Vec<(Ref, Ref)> = pages.iter().map(|_| (alloc(), alloc())).collect();
    pdf.catalog(catalog).pages(tree);
    pdf.document_info(info)
        .title(pdf_writer::TextStr(&doc.title))
        .producer(pdf_writer::TextStr("Menwei"));
    pdf.pages(tree)
        .kids(page_refs.iter().map(|(p, _)| *p))
        .count(i32::try_from(page_refs.len()).unwrap_or(i32::MAX));
    for ((page, content), c) in page_refs.iter().zip(pages) {
        let mut p = pdf.page(*page);
        p.media_box(Rect::new(0.0, 0.0, W, H))
            .parent(tree)
            .contents(*content);
        p.resources().fonts().pair(Name(b"F1"), type0);
        p.finish();
        // Uncompressed: a few KB of text operators; the font subset dominates.
        let bytes = c.finish();
        pdf.stream(*content, &bytes);
    }
    let name = Name(b"MENWEI+NotoSansCJK");
    let system = SystemInfo {
        registry: Str(b"Adobe"),
        ordering: Str(b"Identity"),
        supplement: 0,
    };
    pdf.type0_font(type0)
        .base_font(name)
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid)
        .to_unicode(cmap);
    let mut f = pdf.cid_font(cid);
    f.subtype(if cff {
        CidFontType::Type0
    } else {
        CidFontType::Type2
    })
    .base_font(name)
    .system_info(system)
    .font_descriptor(descriptor)
    .default_width(1000.0);
    if !cff {
        f.cid_to_gid_map_predefined(Name(b"Identity"));
    }
    let widths: Vec<f32> = l
        .used
        .iter()
        .map(|(old, _)| {
            f32::from(
                l.face
                    .glyph_hor_advance(ttf_parser::GlyphId(*old))
                    .unwrap_or(0),
            ) * 1000.0
                / l.units
        })
        .collect();
    f.widths().consecutive(0, widths);
    f.finish();
    let s = |v: i16| f32::from(v) * 1000.0 / l.units;
    let bb = l.face.global_bounding_box();
    let mut d = pdf.font_descriptor(descriptor);
    d.name(name)
        .flags(FontFlags::SYMBOLIC)
        .bbox(Rect::new(
            s(bb.x_min),
            s(bb.y_min),
            s(bb.x_max),
            s(bb.y_max),
        ))
        .italic_angle(0.0)
        .ascent(s(l.face.ascender()))
        .descent(s(l.face.descender()))
        .cap_height(s(l.face.capital_height().unwrap_or(l.face.ascender())))
        .stem_v(80.0);
    if cff {
        d.font_file3(file);
    } else {
        d.font_file2(file);
    }
    d.finish();
    let mut stream = pdf.stream(file, subset);
    if cff {
        stream.pair(Name(b"Subtype"), Name(b"OpenType"));
    }
    stream.finish();
    let mut map = UnicodeCmap::new(Name(b"Menwei-UCS"), system);
    for (new, (_, c)) in l.used.iter().enumerate().skip(1) {
        map.pair(u16::try_from(new).unwrap_or(0), *c);
    }
    let map = map.finish();
    pdf.cmap(cmap, &map);
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::Section;

    #[test]
    fn a_missing_configured_font_is_named() {
        let e = find_font(Some(Path::new("/nonexistent/font.ttc")))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/nonexistent/font.ttc") && e.contains("[reports] font"),
            "{e}"
        );
    }

    #[test]
    fn renders_chinese_with_a_small_subset() {
        let Ok(font) = find_font(None) else {
            panic!("fonts-noto-cjk is needed (scripts/setup installs it)");
        };
        let doc = Document {
            title: "故障处理报告".into(),
            subtitle: "INC-42".into(),
            sections: vec![Section {
                heading: "响应".into(),
                blocks: vec![Block::Table {
                    head: vec!["申请".into(), "响应（分钟）".into()],
                    rows: vec![vec!["r-1".into(), "12.5 按时".into()]],
                }],
            }],
        };
        let pdf = render(&doc, &font).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.len() < 200_000, "{} bytes", pdf.len());
    }
}
