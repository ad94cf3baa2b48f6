//! Cost reports on a small month whose every figure was worked out by hand: golden CSV files
//! (read back with a CSV parser), the workbook read back with calamine (values, formulas, sheet
//! names) and its outline levels from the sheet XML.

mod common;

use std::io::Read;

use common::month_lake;
use reports::engine::Datasets;
use rust_decimal::Decimal;
use spa_core::period::Month;

fn csv_rows(bytes: &[u8]) -> Vec<String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes);
    reader
        .records()
        .map(|r| r.unwrap().iter().collect::<Vec<_>>().join(","))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn golden_month_csv_and_excel() {
    let dir = tempfile::tempdir().unwrap();
    let (settings, lake, source_total) = month_lake(dir.path()).await;
    let month: Month = "2026-10".parse().unwrap();
    let (reports, summary) = reports::cost_reports(&settings, &Datasets::local(&lake), month)
        .await
        .unwrap();
    let total = summary.total;
    // 10.50 + 2.25 + 1.125 + 0.30 - 1.00 + 4.00 - 0.50 + 3.00 + 0.75
    assert_eq!(total, "20.425".parse::<Decimal>().unwrap());
    assert_eq!(total, source_total);

    let out = spa_core::lake::Store::local(dir.path().join("out"));
    let files = reports::write(&settings, &out, &reports).await.unwrap();
    let file = |key: &str| {
        files
            .iter()
            .find(|f| f.key == key)
            .unwrap_or_else(|| {
                panic!(
                    "no {key} in {:?}",
                    files.iter().map(|f| &f.key).collect::<Vec<_>>()
                )
            })
            .bytes
            .clone()
    };
    assert_eq!(
        files.len(),
        3 * 4 + 6,
        "three cost centers and the organization, each with its page"
    );

    // The forecast, by hand: the costs hold days 1 to 6 (the credit on the 3rd and the refund
    // on the 4th are not spend), so each account's rate is its spend over 6 days and 25 days
    // are left. Alpha: 14.175 + 25 x 14.175 / 6 = 73.2375; Beta: 4 + 25 x 4 / 6 = 20.666667
    // (to 6 places); the two NoCostTag accounts 3 + 12.5 and 0.75 + 3.125. September holds
    // only its 10th, not its last day: no month to backtest.
    assert_eq!(
        csv_rows(&file("reports/costs/all/2026/2026-10-all-forecast.csv")),
        [
            "Cost Center,Account,Name,Days Held,Spend So Far,Daily Rate,Month-End Forecast,Backtest Error %,Backtest Months",
            "Alpha,100000000001,alpha-one,6,14.175,2.3625,73.2375,,0",
            "Beta,100000000002,beta-two,6,4,0.666667,20.666667,,0",
            "NoCostTag,100000000003,'=cmd|' /C calc'!A0,6,3,0.5,15.5,,0",
            "NoCostTag,100000000004,Unknown,6,0.75,0.125,3.875,,0",
            "Total,,,,21.925,3.654167,113.279167,,",
        ]
    );

    // EUR 0.92 and GBP 0.79 from the shipped settings; every product and sum by hand.
    assert_eq!(
        csv_rows(&file("reports/costs/Alpha/2026/2026-10-Alpha-services.csv")),
        [
            "Month,Cost Center,Organizational Unit,Account,Name,Service,Amount,Amount EUR,Amount GBP",
            "2026-10,Alpha,Engineering,100000000001,alpha-one,Amazon EC2,12.75,11.73,10.0725",
            "2026-10,Alpha,Engineering,100000000001,alpha-one,Amazon S3,1.125,1.035,0.88875",
            "2026-10,Alpha,Engineering,100000000001,alpha-one,Tax,0.3,0.276,0.237",
            "Total,,,,,,14.175,13.041,11.19825",
        ]
    );
    assert_eq!(
        csv_rows(&file(
            "reports/costs/NoCostTag/2026/2026-10-NoCostTag-services.csv"
        )),
        [
            "Month,Cost Center,Organizational Unit,Account,Name,Service,Amount,Amount EUR,Amount GBP",
            "2026-10,NoCostTag,Engineering,100000000003,'=cmd|' /C calc'!A0,Amazon EC2,3,2.76,2.37",
            "2026-10,NoCostTag,Unknown,100000000004,Unknown,Amazon S3,0.75,0.69,0.5925",
            "Total,,,,,,3.75,3.45,2.9625",
        ]
    );
    assert_eq!(
        csv_rows(&file("reports/costs/all/2026/2026-10-all-cost-centers.csv")),
        [
            "Cost Center,Accounts,Amount,Amount EUR,Amount GBP,Previous Month,Change,Change %",
            "Alpha,1,14.175,13.041,11.19825,5,9.175,183.5",
            "Beta,1,4,3.68,3.16,8,-4,-50",
            "NoCostTag,2,3.75,3.45,2.9625,0,3.75,",
            "Credit (organization),,-1,-0.92,-0.79,,,",
            "Refund (organization),,-0.5,-0.46,-0.395,,,",
            "Total,4,20.425,18.791,16.13575,13,8.925,",
        ]
    );
    assert_eq!(
        csv_rows(&file("reports/costs/all/2026/2026-10-all-charges.csv")),
        [
            "Cost Center,Organizational Unit,Account,Name,Usage,Credit,Refund,Tax,Total",
            "Alpha,Engineering,100000000001,alpha-one,13.875,-1,,0.3,13.175",
            "Beta,Engineering,100000000002,beta-two,4,,-0.5,,3.5",
            "NoCostTag,Engineering,100000000003,'=cmd|' /C calc'!A0,3,,,,3",
            "NoCostTag,Unknown,100000000004,Unknown,0.75,,,,0.75",
            "Total,,,,21.625,-1,-0.5,0.3,20.425",
        ]
    );
    assert_eq!(
        csv_rows(&file("reports/costs/all/2026/2026-10-all-summary.csv")),
        [
            "Month,Cost Center,Organizational Unit,Account,Name,Amount,Amount EUR,Amount GBP",
            "2026-10,Alpha,Engineering,100000000001,alpha-one,14.175,13.041,11.19825",
            "2026-10,Beta,Engineering,100000000002,beta-two,4,3.68,3.16",
            "2026-10,NoCostTag,Engineering,100000000003,'=cmd|' /C calc'!A0,3,2.76,2.37",
            "2026-10,NoCostTag,Unknown,100000000004,Unknown,0.75,0.69,0.5925",
            "Total,,,,,21.925,20.171,17.32075",
        ]
    );

    // The backtest, by hand: September rewritten with a row on its 2nd and one on its last
    // day, so that it is held whole and the model runs at its 6th. Alpha: 6 by then, a rate of
    // 6 / 6 = 1 over 24 days left: 30 against an actual 6 + 5 + 3 = 14, an error of
    // 16 / 14 = 114.29 %, shown as 114.3. Beta: nothing by then, forecast 0 against 8: 100 %.
    // The organization: 30 against 22, 36.36 %, shown as 36.4. The NoCostTag accounts spent
    // nothing in September: no error to average.
    let september = vec![
        common::row("2026-09-02", "100000000001", "Amazon EC2", "Usage", "6"),
        common::row("2026-09-10", "100000000001", "Amazon EC2", "Usage", "5"),
        common::row("2026-09-10", "100000000002", "AWS Lambda", "Usage", "8"),
        common::row("2026-09-30", "100000000001", "Amazon EC2", "Usage", "3"),
    ];
    ingest::costs::write_month(&lake, month.previous(), september, "test")
        .await
        .unwrap();
    let data = Datasets::local(&lake);
    let (_, accounts) = reports::accounts::load(&data, month.last()).await.unwrap();
    let forecast = reports::forecast::load(&data, month, &accounts)
        .await
        .unwrap();
    let error =
        |b: &reports::forecast::Backtest| (b.error.map(|e| e.normalize().to_string()), b.months);
    assert_eq!(
        error(&forecast.accounts["100000000001"].3),
        (Some("114.3".into()), 1)
    );
    assert_eq!(
        error(&forecast.accounts["100000000002"].3),
        (Some("100".into()), 1)
    );
    assert_eq!(error(&forecast.accounts["100000000003"].3), (None, 0));
    assert_eq!(
        error(&forecast.centers["Alpha"].1),
        (Some("114.3".into()), 1)
    );
    assert_eq!(error(&forecast.organization.1), (Some("36.4".into()), 1));
    // The accounts' forecasts summed: 73.2375 + 20.666667 + 15.5 + 3.875.
    assert_eq!(
        forecast.organization.0.forecast,
        "113.279167".parse::<Decimal>().unwrap()
    );
    assert!(!forecast.complete());

    // The organization's workbook, read back.
    use calamine::{Data as X, Reader, Xlsx};
    let bytes = file("reports/costs/all/2026/2026-10-all-costs.xlsx");
    let mut book: Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    assert_eq!(
        book.sheet_names(),
        [
            "Cost Centers",
            "Summary",
            "Charges",
            "Forecast",
            "Anomalies"
        ]
    );
    let centers = book.worksheet_range("Cost Centers").unwrap();
    assert_eq!(centers.get((1, 0)), Some(&X::String("Alpha".into())));
    assert_eq!(centers.get((1, 2)), Some(&X::Float(14.175)));
    assert_eq!(centers.get((6, 0)), Some(&X::String("Total".into())));
    assert_eq!(centers.get((6, 2)), Some(&X::Float(20.425)));
    let formulas = book.worksheet_formula("Cost Centers").unwrap();
    assert_eq!(
        formulas.get_value((6, 2)).map(String::as_str),
        Some("SUM(C2:C6)")
    );
    let summary = book.worksheet_range("Summary").unwrap();
    // Header, Alpha, Engineering, alpha-one, Beta, ..., NoCostTag, Engineering, account,
    // Unknown, account, Total.
    assert_eq!(summary.get((1, 1)), Some(&X::String("Alpha".into())));
    assert_eq!(summary.get((1, 5)), Some(&X::Float(14.175)));
    assert_eq!(summary.get((7, 1)), Some(&X::String("NoCostTag".into())));
    assert_eq!(summary.get((7, 5)), Some(&X::Float(3.75)));
    assert_eq!(summary.get((12, 5)), Some(&X::Float(21.925)));
    let formulas = book.worksheet_formula("Summary").unwrap();
    assert_eq!(
        formulas.get_value((7, 5)).map(String::as_str),
        Some("SUBTOTAL(9,F9:F12)")
    );
    assert_eq!(
        formulas.get_value((12, 5)).map(String::as_str),
        Some("SUBTOTAL(9,F2:F12)")
    );

    // Outline levels: cost center rows at 0, OU rows at 1, account rows at 2.
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut xml = String::new();
    zip.by_name("xl/worksheets/sheet2.xml")
        .unwrap()
        .read_to_string(&mut xml)
        .unwrap();
    let level = |row: u32| -> u8 {
        let start = xml.find(&format!("<row r=\"{row}\"")).unwrap();
        let tag = &xml[start..start + xml[start..].find('>').unwrap()];
        tag.split("outlineLevel=\"")
            .nth(1)
            .map_or(0, |rest| rest[..1].parse().unwrap())
    };
    assert_eq!(
        [level(2), level(3), level(4), level(8), level(9), level(10)],
        [0, 1, 2, 0, 1, 2]
    );

    // The chart of the Cost Centers sheet, read from its XML part: one column series whose
    // categories and values are the sheet's cost center names and amounts, every row above
    // the totals row.
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut xml = String::new();
    zip.by_name("xl/charts/chart1.xml")
        .unwrap()
        .read_to_string(&mut xml)
        .unwrap();
    let chart = chart_parts(&xml);
    assert_eq!(chart.kind, "barChart");
    assert_eq!(chart.direction, "col");
    assert_eq!(chart.title, "Cost per cost center, 2026-10 (USD)");
    assert_eq!(chart.series.len(), 1, "{:?}", chart.series);
    let (categories, values) = &chart.series[0];
    assert_eq!(categories, "'Cost Centers'!$A$2:$A$6");
    assert_eq!(values, "'Cost Centers'!$C$2:$C$6");
    // What those ranges hold, read with calamine: the five rows above Total.
    let names: Vec<String> = (1..=5)
        .map(|r| centers.get((r, 0)).unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "Alpha",
            "Beta",
            "NoCostTag",
            "Credit (organization)",
            "Refund (organization)"
        ]
    );
    let amounts: Vec<X> = (1..=5)
        .map(|r| centers.get((r, 2)).unwrap().clone())
        .collect();
    assert_eq!(
        amounts,
        [14.175, 4.0, 3.75, -1.0, -0.5].map(X::Float),
        "the cost centers' sums by hand, then the credit and the refund"
    );
    // The chart is drawn on that sheet.
    let mut rels = String::new();
    zip.by_name("xl/worksheets/_rels/sheet1.xml.rels")
        .unwrap()
        .read_to_string(&mut rels)
        .unwrap();
    assert!(rels.contains("drawing"), "{rels}");
}

/// What a chart part says: its plot type and direction, title, and each series' category and
/// value ranges.
struct ChartParts {
    kind: String,
    direction: String,
    title: String,
    series: Vec<(String, String)>,
}

fn chart_parts(xml: &str) -> ChartParts {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut parts = ChartParts {
        kind: String::new(),
        direction: String::new(),
        title: String::new(),
        series: Vec::new(),
    };
    loop {
        let text = match reader.read_event().unwrap() {
            Event::Start(e) => {
                let name = e.name().as_ref().to_string();
                if name == "c:ser" {
                    parts.series.push((String::new(), String::new()));
                }
                if name.ends_with("Chart") && name.starts_with("c:") {
                    parts.kind = name[2..].to_string();
                }
                path.push(name);
                continue;
            }
            Event::Empty(e) => {
                if e.name().as_ref() == "c:barDir" {
                    let dir = e.try_get_attribute("val").unwrap().unwrap();
                    parts.direction = dir.value.into_owned();
                }
                continue;
            }
            Event::End(_) => {
                path.pop();
                continue;
            }
            Event::Text(t) => t.into_inner().into_owned(),
            // Entities arrive on their own (the sheet name's quotes may be written `&apos;`).
            Event::GeneralRef(r) => match r.into_inner().as_ref() {
                "apos" => "'".to_string(),
                "quot" => "\"".to_string(),
                "amp" => "&".to_string(),
                "lt" => "<".to_string(),
                "gt" => ">".to_string(),
                other => panic!("entity {other}"),
            },
            Event::Eof => break,
            _ => continue,
        };
        let inside = |tag: &str| path.iter().any(|p| p == tag);
        if path.last().map(String::as_str) == Some("a:t") && inside("c:title") {
            parts.title.push_str(&text);
        } else if path.last().map(String::as_str) == Some("c:f") {
            let series = parts.series.last_mut().unwrap();
            if inside("c:cat") {
                series.0.push_str(&text);
            } else if inside("c:val") {
                series.1.push_str(&text);
            }
        }
    }
    parts
}

#[tokio::test(flavor = "multi_thread")]
async fn a_month_without_costs_says_which_command_fills_it() {
    let dir = tempfile::tempdir().unwrap();
    let (settings, lake, _) = month_lake(dir.path()).await;
    let err = reports::cost_reports(
        &settings,
        &Datasets::local(&lake),
        "2026-08".parse().unwrap(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(
            "has no costs for 2026-08: fill it with `cargo run -p ingest -- costs --month 2026-08`"
        ),
        "{err}"
    );
}
