//! The month's cost report as one self-contained HTML page per scope (the organization, each
//! cost center): headline figures, charts as inline SVG, and tables of typed cells rendered the
//! way the CSV files hold them (amounts shown to the cent, the exact value kept in a `data-value`
//! attribute). No request leaves the page, no script is needed to read it (a few lines sort a
//! table when its header is clicked), and it prints and reads on a phone.
//!
//! Every text from the lake (names, tags, messages) is escaped where it lands.

pub mod chart;
pub mod facts;
pub mod pages;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::table::{Cell, Kind, Table};
use chart::ChartData;

/// A chart of the page and how it is drawn.
#[derive(Debug, Clone, PartialEq)]
pub enum Chart {
    /// Stacked columns (cost per group per month).
    Columns(ChartData),
    /// Lines (cost per day).
    Lines(ChartData),
}

impl Chart {
    /// What it draws.
    pub fn data(&self) -> &ChartData {
        match self {
            Chart::Columns(d) | Chart::Lines(d) => d,
        }
    }
}

/// A section: a heading, a sentence, then a table (or only the sentence when it is empty).
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// Anchor (`movers`, `exceptions`, ...).
    pub id: &'static str,
    /// Heading.
    pub title: String,
    /// What the table shows and how it was found.
    pub intro: String,
    /// Said instead of an empty table.
    pub empty: String,
    /// The rows (totals row when the table has one).
    pub table: Table,
    /// Rows left out (shown as a note; the CSV files or workbook hold them).
    pub more: usize,
}

/// A headline figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// What it is.
    pub label: String,
    /// The figure as shown.
    pub value: String,
    /// A second line (change, context).
    pub note: String,
}

/// One page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// `<title>` and heading.
    pub title: String,
    /// A line under the heading (period, snapshot, currency).
    pub subtitle: String,
    /// Headline figures.
    pub figures: Vec<Figure>,
    /// Charts, in order.
    pub charts: Vec<Chart>,
    /// Sections, in order.
    pub sections: Vec<Section>,
    /// The last line (how the page was made).
    pub footer: String,
}

/// `1,234.57`: an amount to the cent (half away from zero), with thousands separators.
pub fn cents(amount: Decimal) -> String {
    let rounded = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    let text = format!("{:.2}", rounded.abs());
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, "00"));
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if rounded.is_sign_negative() && !rounded.is_zero() {
        "-"
    } else {
        ""
    };
    format!("{sign}{grouped}.{fraction}")
}

fn escape(text: &str) -> String {
    html_escape::encode_text(text).into_owned()
}

fn attribute(text: &str) -> String {
    html_escape::encode_double_quoted_attribute(text).into_owned()
}

/// A cell as the page shows it, and its sort value.
fn cell(cell: &Cell, kind: &Kind) -> (String, String) {
    match (cell, kind) {
        (Cell::Empty, _) => (String::new(), String::new()),
        (Cell::Text(t), _) => (escape(t), attribute(t)),
        (Cell::Decimal(d), Kind::Money(_)) => (cents(*d), d.normalize().to_string()),
        (Cell::Decimal(d), _) => (d.normalize().to_string(), d.normalize().to_string()),
        (Cell::Count(n), _) => (n.to_string(), n.to_string()),
        (Cell::Time(t), _) => {
            let text = t.format("%Y-%m-%d %H:%M UTC").to_string();
            (text, t.timestamp().to_string())
        }
    }
}

fn numeric(kind: &Kind) -> bool {
    !matches!(kind, Kind::Text)
}

fn table_html(table: &Table, out: &mut String) {
    out.push_str("<div class=\"scroll\"><table class=\"sortable\">\n<thead><tr>");
    for column in &table.columns {
        let class = if numeric(&column.kind) {
            " class=\"num\""
        } else {
            ""
        };
        let unit = match &column.kind {
            Kind::Money(c) => format!(" <span class=\"unit\">{}</span>", escape(c)),
            _ => String::new(),
        };
        out.push_str(&format!(
            "<th{class} scope=\"col\">{}{unit}</th>",
            escape(&column.name)
        ));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &table.rows {
        let class = if row.subtotal {
            format!(" class=\"subtotal level{}\"", row.level)
        } else if row.level > 0 {
            format!(" class=\"level{}\"", row.level)
        } else {
            String::new()
        };
        out.push_str(&format!("<tr{class}>"));
        for (c, column) in row.cells.iter().zip(&table.columns) {
            let (text, value) = cell(c, &column.kind);
            if numeric(&column.kind) {
                out.push_str(&format!(
                    "<td class=\"num\" data-value=\"{value}\">{text}</td>"
                ));
            } else {
                out.push_str(&format!("<td>{text}</td>"));
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n");
    if table.totals {
        out.push_str("<tfoot><tr>");
        for (i, (total, column)) in table.total().iter().zip(&table.columns).enumerate() {
            let text = match total {
                Some(sum) => cell(&Cell::Decimal(*sum), &column.kind).0,
                None if i == 0 => "Total".into(),
                None => String::new(),
            };
            let class = if numeric(&column.kind) {
                " class=\"num\""
            } else {
                ""
            };
            out.push_str(&format!("<td{class}>{text}</td>"));
        }
        out.push_str("</tr></tfoot>\n");
    }
    out.push_str("</table></div>\n");
}

fn chart_html(chart: &Chart, out: &mut String) {
    let data = chart.data();
    let drawn = match chart {
        Chart::Columns(d) => chart::stacked_columns(d),
        Chart::Lines(d) => chart::lines(d),
    };
    out.push_str("<figure class=\"chart\">\n");
    out.push_str(&format!(
        "<figcaption>{}</figcaption>\n",
        escape(&data.title)
    ));
    match drawn {
        Ok(svg) => {
            out.push_str("<div class=\"scroll\">");
            out.push_str(&svg);
            out.push_str("</div>");
        }
        Err(e) => out.push_str(&format!(
            "<p class=\"note\">The chart could not be drawn: {}</p>",
            escape(&e)
        )),
    }
    out.push_str("\n<ul class=\"legend\">");
    for (i, series) in data.series.iter().enumerate() {
        out.push_str(&format!(
            "<li><span class=\"swatch\" style=\"background:{}\"></span>{}</li>",
            chart::colour(i),
            escape(&series.name)
        ));
    }
    out.push_str("</ul>\n</figure>\n");
}

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; margin: 0 auto; max-width: 1100px; padding: 1rem; color: #1d1d1f; line-height: 1.4; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 .5rem; border-bottom: 1px solid #ddd; padding-bottom: .25rem; }
.subtitle, .note, figcaption { color: #555; font-size: .9rem; }
.figures { display: flex; flex-wrap: wrap; gap: .75rem; margin: 1rem 0; padding: 0; list-style: none; }
.figures li { flex: 1 1 8rem; border: 1px solid #ddd; border-radius: 6px; padding: .5rem .75rem; }
.figures .label { font-size: .8rem; color: #555; display: block; }
.figures .value { font-size: 1.3rem; font-weight: 600; display: block; }
.figures .fnote { font-size: .8rem; color: #555; display: block; }
figure.chart { margin: 1rem 0; break-inside: avoid; }
svg.chart { width: 100%; height: auto; display: block; }
ul.legend { list-style: none; padding: 0; margin: .25rem 0; display: flex; flex-wrap: wrap; gap: .25rem 1rem; font-size: .85rem; }
.swatch { display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem; vertical-align: -1px; print-color-adjust: exact; -webkit-print-color-adjust: exact; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .85rem; width: 100%; }
th, td { padding: .3rem .5rem; border-bottom: 1px solid #e5e5e5; text-align: left; vertical-align: top; }
th { background: #f5f5f7; position: sticky; top: 0; cursor: pointer; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.unit { font-weight: normal; color: #777; font-size: .75rem; }
tfoot td { font-weight: 600; border-top: 2px solid #999; }
tr.subtotal td { font-weight: 600; background: #fafafa; }
section { break-inside: auto; }
@media (max-width: 600px) { body { padding: .5rem; } table { font-size: .78rem; } th, td { padding: .25rem .3rem; } svg.chart { min-width: 560px; } }
@media print { body { max-width: none; padding: 0; } th { position: static; } h2 { break-after: avoid; } tr { break-inside: avoid; } .scroll { overflow: visible; } }
"#;

/// Sorts a table by the clicked header (numbers by their exact value); the page reads the same
/// without it.
const SCRIPT: &str = r#"
document.querySelectorAll("table.sortable th").forEach(function (th, _) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0];
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var down = th.getAttribute("aria-sort") !== "descending";
    th.parentNode.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", down ? "descending" : "ascending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[index], y = b.cells[index];
      var p = x.dataset.value, q = y.dataset.value, r;
      if (p !== undefined && q !== undefined && p !== "" && q !== "") { r = parseFloat(p) - parseFloat(q); }
      else { r = x.textContent.localeCompare(y.textContent); }
      return down ? -r : r;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"#;

/// The page as one HTML document.
pub fn render(page: &Page) -> String {
    let mut out = String::with_capacity(64 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str(&format!("<title>{}</title>\n", escape(&page.title)));
    out.push_str(&format!("<style>{STYLE}</style>\n</head>\n<body>\n"));
    out.push_str(&format!(
        "<header>\n<h1>{}</h1>\n<p class=\"subtitle\">{}</p>\n",
        escape(&page.title),
        escape(&page.subtitle)
    ));
    out.push_str("<ul class=\"figures\">\n");
    for f in &page.figures {
        out.push_str(&format!(
            "<li><span class=\"label\">{}</span><span class=\"value\">{}</span><span class=\"fnote\">{}</span></li>\n",
            escape(&f.label),
            escape(&f.value),
            escape(&f.note)
        ));
    }
    out.push_str("</ul>\n</header>\n<main>\n");
    for chart in &page.charts {
        chart_html(chart, &mut out);
    }
    for section in &page.sections {
        out.push_str(&format!(
            "<section id=\"{}\">\n<h2>{}</h2>\n<p class=\"note\">{}</p>\n",
            section.id,
            escape(&section.title),
            escape(&section.intro)
        ));
        if section.table.rows.is_empty() {
            out.push_str(&format!("<p>{}</p>\n", escape(&section.empty)));
        } else {
            table_html(&section.table, &mut out);
            if section.more > 0 {
                out.push_str(&format!(
                    "<p class=\"note\">{} more rows are in the report's files.</p>\n",
                    section.more
                ));
            }
        }
        out.push_str("</section>\n");
    }
    out.push_str(&format!(
        "</main>\n<footer><p class=\"note\">{}</p></footer>\n<script>{SCRIPT}</script>\n</body>\n</html>\n",
        escape(&page.footer)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Column, Row};

    #[test]
    fn cents_round_half_away_from_zero_and_group_thousands() {
        assert_eq!(cents(Decimal::new(1_234_565, 3)), "1,234.57");
        assert_eq!(cents(Decimal::new(-1_234_565, 3)), "-1,234.57");
        assert_eq!(cents(Decimal::new(5, 3)), "0.01");
        assert_eq!(cents(Decimal::new(-4, 3)), "0.00");
        assert_eq!(cents(Decimal::new(100_000_000, 2)), "1,000,000.00");
        assert_eq!(cents(Decimal::new(99_999, 2)), "999.99");
    }

    #[test]
    fn text_from_the_lake_is_escaped_everywhere() {
        let mut table = Table::new(
            "T",
            vec![Column::text("Name"), Column::money("Amount", "USD")],
        );
        let evil = "<img src=x onerror=alert(1)>\"'&";
        table
            .rows
            .push(Row::new(vec![evil.into(), Decimal::new(150, 2).into()]));
        let page = Page {
            title: evil.into(),
            subtitle: evil.into(),
            figures: vec![Figure {
                label: evil.into(),
                value: evil.into(),
                note: evil.into(),
            }],
            charts: vec![Chart::Columns(ChartData {
                title: evil.into(),
                categories: vec![evil.into()],
                series: vec![chart::Series {
                    name: evil.into(),
                    values: vec![Decimal::ONE],
                }],
                unit: evil.into(),
            })],
            sections: vec![Section {
                id: "t",
                title: evil.into(),
                intro: evil.into(),
                empty: evil.into(),
                table,
                more: 0,
            }],
            footer: evil.into(),
        };
        let html = render(&page);
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(html.contains("<td class=\"num\" data-value=\"1.5\">1.50</td>"));
        assert!(html.contains("<tfoot><tr><td>Total</td><td class=\"num\">1.50</td>"));
    }
}
