//! Charts as inline SVG, drawn with plotters' SVG backend: text stays text (the reader's font
//! renders it), nothing is fetched, no script runs.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// One coloured part of each column, or one line.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// One value per category.
    pub values: Vec<Decimal>,
}

/// A chart's data: categories along the x axis, series stacked on them.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartData {
    /// Title (the figure's caption).
    pub title: String,
    /// Category labels (months, days).
    pub categories: Vec<String>,
    /// Series, drawn bottom up in this order.
    pub series: Vec<Series>,
    /// Unit of the y axis (a currency).
    pub unit: String,
}

/// The Okabe-Ito palette (readable with the common colour vision deficiencies), then grey for
/// "Other".
const COLOURS: [RGBColor; 9] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
    RGBColor(153, 153, 153),
];

/// The colour of series `i` as CSS (the legend in HTML uses the same).
pub fn colour(i: usize) -> String {
    let RGBColor(r, g, b) = COLOURS[i % COLOURS.len()];
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// `1.2k`, `35`, `4.5M`: the y axis' labels.
fn short(value: f64) -> String {
    let a = value.abs();
    if a >= 1e6 {
        format!("{:.1}M", value / 1e6)
    } else if a >= 1e3 {
        format!("{:.1}k", value / 1e3)
    } else if a >= 10.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// Drawn size, in SVG units (the page scales it to its width).
const WIDTH: u32 = 760;
const HEIGHT: u32 = 300;

/// The columns of `data` on `root` (any plotters backend).
fn draw_columns<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    data: &ChartData,
) -> Result<(), String> {
    let n = data.categories.len();
    let value = |s: &Series, i: usize| s.values.get(i).and_then(|v| v.to_f64()).unwrap_or(0.0);
    let top = (0..n)
        .map(|i| {
            data.series
                .iter()
                .map(|s| value(s, i).max(0.0))
                .sum::<f64>()
        })
        .fold(0.0, f64::max);
    let top = if top > 0.0 { top * 1.08 } else { 1.0 };
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(root)
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(52)
        .build_cartesian_2d(0f64..n.max(1) as f64, 0f64..top)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225))
        .y_labels(6)
        .y_label_formatter(&|v| short(*v))
        .label_style(("sans-serif", 12))
        .axis_desc_style(("sans-serif", 12))
        .y_desc(data.unit.as_str())
        .draw()
        .map_err(|e| e.to_string())?;
    // Each category's label centred under its column, a few pixels below the axis.
    let label = TextStyle::from(("sans-serif", 12)).pos(Pos::new(HPos::Center, VPos::Top));
    chart
        .draw_series(data.categories.iter().enumerate().map(|(i, c)| {
            EmptyElement::at((i as f64 + 0.5, 0.0)) + Text::new(c.clone(), (0, 6), label.clone())
        }))
        .map_err(|e| e.to_string())?;
    let mut bottoms = vec![0.0f64; n];
    for (k, series) in data.series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let bars: Vec<Rectangle<(f64, f64)>> = (0..n)
            .filter_map(|i| {
                let v = value(series, i).max(0.0);
                if v == 0.0 {
                    return None;
                }
                let (from, to) = (bottoms[i], bottoms[i] + v);
                bottoms[i] = to;
                let x = i as f64;
                Some(Rectangle::new(
                    [(x + 0.15, from), (x + 0.85, to)],
                    colour.filled(),
                ))
            })
            .collect();
        chart.draw_series(bars).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A stacked column chart as an SVG element (`<svg ...>...</svg>`). Negative values (credits)
/// are drawn as zero: the tables carry them.
pub fn stacked_columns(data: &ChartData) -> Result<String, String> {
    fonts();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw_columns(&root, data)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(tag_svg(svg, &data.title))
}

/// Width of the legend beside a PNG chart, in pixels.
const PNG_LEGEND: u32 = 190;
/// Width of a PNG chart, legend included.
pub const PNG_WIDTH: u32 = WIDTH + PNG_LEGEND;

/// The same chart as a PNG image (for e-mail, where SVG is not shown), with its legend drawn
/// beside it: [`PNG_WIDTH`] by 300 pixels.
pub fn stacked_columns_png(data: &ChartData) -> Result<Vec<u8>, String> {
    fonts();
    let (w, h) = (PNG_WIDTH, HEIGHT);
    let mut rgb = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        let (plot, legend) = root.split_horizontally(WIDTH);
        draw_columns(&plot, data)?;
        legend.fill(&WHITE).map_err(|e| e.to_string())?;
        let style = TextStyle::from(("sans-serif", 12)).pos(Pos::new(HPos::Left, VPos::Center));
        for (k, series) in data.series.iter().enumerate() {
            let y = 20 + 20 * k as i32;
            let colour = COLOURS[k % COLOURS.len()];
            legend
                .draw(&Rectangle::new([(4, y - 6), (16, y + 6)], colour.filled()))
                .map_err(|e| e.to_string())?;
            let mut name = series.name.clone();
            if name.chars().count() > 24 {
                name = name.chars().take(23).collect::<String>() + "…";
            }
            legend
                .draw(&Text::new(name, (22, y), style.clone()))
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(&mut png, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .and_then(|mut writer| writer.write_image_data(&rgb))
        .map_err(|e| e.to_string())?;
    Ok(png)
}

/// Registers the font text is measured (SVG) and drawn (PNG) with: DejaVu Sans, embedded, so
/// that a machine without fonts (a Lambda function) draws the same.
fn fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // A font that does not parse would leave text undrawn, not the chart.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

/// A line per series (e.g. daily cost), points at each category.
pub fn lines(data: &ChartData) -> Result<String, String> {
    fonts();
    let n = data.categories.len();
    let value = |s: &Series, i: usize| s.values.get(i).and_then(|v| v.to_f64()).unwrap_or(0.0);
    let top = data
        .series
        .iter()
        .flat_map(|s| (0..n).map(move |i| value(s, i)))
        .fold(0.0, f64::max);
    let top = if top > 0.0 { top * 1.08 } else { 1.0 };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(52)
            .build_cartesian_2d(0..n.max(2) - 1, 0f64..top)
            .map_err(|e| e.to_string())?;
        let categories = &data.categories;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(225, 225, 225))
            .y_labels(6)
            .y_label_formatter(&|v| short(*v))
            .x_labels(n.clamp(1, 10))
            .x_label_formatter(&|i| categories.get(*i).cloned().unwrap_or_default())
            .label_style(("sans-serif", 12))
            .axis_desc_style(("sans-serif", 12))
            .y_desc(data.unit.as_str())
            .draw()
            .map_err(|e| e.to_string())?;
        for (k, series) in data.series.iter().enumerate() {
            let colour = COLOURS[k % COLOURS.len()];
            let points: Vec<(usize, f64)> = (0..n).map(|i| (i, value(series, i))).collect();
            chart
                .draw_series(std::iter::once(PathElement::new(
                    points.clone(),
                    colour.stroke_width(2),
                )))
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(
                    points
                        .into_iter()
                        .map(|p| Circle::new(p, 3, colour.filled())),
                )
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(tag_svg(svg, &data.title))
}

/// Makes the SVG scale with the page (a `viewBox`, no fixed size) and names it for screen
/// readers.
fn tag_svg(svg: String, title: &str) -> String {
    let body = svg
        .split_once("?>")
        .map_or(svg.as_str(), |(_, rest)| rest)
        .trim_start();
    let open_end = body.find('>').unwrap_or(0);
    let rest = &body[open_end + 1..];
    format!(
        "<svg class=\"chart\" role=\"img\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" xmlns=\"http://www.w3.org/2000/svg\" aria-label=\"{}\">{rest}",
        html_escape::encode_double_quoted_attribute(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> ChartData {
        ChartData {
            title: "Cost <per> \"cost\" center".into(),
            categories: vec!["2026-09".into(), "2026-10".into()],
            series: vec![
                Series {
                    name: "Alpha".into(),
                    values: vec![Decimal::new(500, 2), Decimal::new(1200, 2)],
                },
                Series {
                    name: "<b>Beta</b>".into(),
                    values: vec![Decimal::ZERO, Decimal::new(-300, 2)],
                },
            ],
            unit: "USD".into(),
        }
    }

    #[test]
    fn stacked_columns_draw_one_bar_per_positive_value() {
        let svg = stacked_columns(&data()).unwrap();
        assert!(svg.starts_with("<svg class=\"chart\""), "{svg}");
        assert!(svg.contains("aria-label=\"Cost &lt;per&gt; &quot;cost&quot; center\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        // Alpha's two values are bars in the first colour; Beta has none (zero, negative).
        assert_eq!(svg.matches("fill=\"#0072B2\"").count(), 2, "{svg}");
        assert_eq!(svg.matches("fill=\"#E69F00\"").count(), 0);
        // One label per category, centred under its column, none for a category that is not.
        let labels: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .map(|t| {
                t.split_once('>')
                    .unwrap()
                    .1
                    .split('<')
                    .next()
                    .unwrap()
                    .trim()
            })
            .collect();
        assert!(
            labels.contains(&"2026-09") && labels.contains(&"2026-10"),
            "{labels:?}"
        );
        assert!(!labels.contains(&""), "{labels:?}");
        // The y axis reaches past the largest column, 12, with short labels.
        assert!(
            labels.contains(&"10") && labels.contains(&"5"),
            "{labels:?}"
        );
    }

    #[test]
    fn one_category_gets_its_column() {
        let mut one = data();
        one.categories.truncate(1);
        for s in &mut one.series {
            s.values.truncate(1);
        }
        let svg = stacked_columns(&one).unwrap();
        assert_eq!(svg.matches("fill=\"#0072B2\"").count(), 1, "{svg}");
        // The column spans the middle 70 % of the plot's width.
        let bar = svg.split("fill=\"#0072B2\"").next().unwrap();
        let rect = &bar[bar.rfind("<rect").unwrap()..];
        let width: f64 = rect
            .split("width=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(width > 400.0 && width < 560.0, "{rect}");
    }

    #[test]
    fn lines_draw_a_path_and_points() {
        let svg = lines(&data()).unwrap();
        // Axes are polylines too: the series' lines are the ones in their colours.
        for colour in ["#0072B2", "#E69F00"] {
            let drawn = format!("stroke=\"{colour}\" stroke-width=\"2\"");
            assert_eq!(svg.matches(&drawn).count(), 1, "{svg}");
        }
        assert_eq!(svg.matches("<circle").count(), 4);
    }

    #[test]
    fn short_labels() {
        assert_eq!(short(0.0), "0");
        assert_eq!(short(2.5), "2.5");
        assert_eq!(short(5.0), "5");
        assert_eq!(short(250.0), "250");
        assert_eq!(short(12_345.0), "12.3k");
        assert_eq!(short(4_500_000.0), "4.5M");
    }
}
