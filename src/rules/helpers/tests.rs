//! The helpers, called from Rhai as rules call them.

use std::cmp::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rhai::Scope;
use serde_json::json;

use super::*;
use crate::rules::json::{self, Json};
use crate::rules::sandbox::{self, Limits, Run};
use rhai::{Dynamic, ImmutableString};

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| sandbox::engine(&Limits::default()))
}

fn sample() -> serde_json::Value {
    json!({
        "estimateID": "EST-7",
        "voyageResults": {"tce": 11350.5, "voyageDays": 41.25},
        "estimateCargoes": [
            {"cargoName": "Soybeans", "charterer": "Bunge ", "laycanFrom": "2027-01-08", "laycanTo": "2027-01-12", "addressCommission": 3.75, "brokerage": 1.25},
            {"cargoName": "Corn", "charterer": "OCEANIC GRAIN", "laycanFrom": "2027-01-05", "laycanTo": "2027-01-09", "addressCommission": 2.5, "brokerage": null}
        ],
        "estimateItineraries": [
            {"portName": "SANTOS", "portFunction": "Load", "arrivalDate": "2027-01-10T06:00:00-03:00", "portDays": 3,
             "voyageEstimateBunkers": [{"fuelType": "LSF", "departureQty": 1199.2}]},
            {"portName": "Santos", "portFunction": "Bunker", "arrivalDate": "2027-01-13T14:04:48Z", "portDays": 0.5},
            {"portName": "QINGDAO", "portFunction": "Discharge", "arrivalDate": "2027-02-20T08:00:00+08:00", "portDays": 2.5,
             "voyageEstimateBunkers": [{"fuelType": "LSF", "departureQty": 310}]},
            {"portName": "ROTTERDAM ", "portFunction": "Discharge", "arrivalDate": null, "portDays": null}
        ],
        "remarks": "Ice class required; Baltic winter",
        "words": ["war risk", "ICE"],
        "mixed": [1, "two", 3],
        "dates": ["2027-01-13", "2027-01-13T14:04:48+08:00", "2027-01-13T14:04:48Z", "2027-01-13T14:04:48"]
    })
}

/// Runs `script` with `estimate` (a JSON handle on the sample) and `rows` (the sample's
/// itinerary as a Rhai array of maps): the value's debug text, or "error: " and the message.
fn eval(script: &str) -> String {
    let sample = sample();
    let mut scope = Scope::new();
    scope.push_constant_dynamic(
        "estimate",
        Dynamic::from(Json::new(Arc::new(json::doc_from(&sample)))),
    );
    let rows = rhai::serde::to_dynamic(&sample["estimateItineraries"]).unwrap();
    scope.push_dynamic("rows", rows);
    match engine().eval_with_scope::<Dynamic>(&mut scope, script) {
        Ok(value) => format!("{value:?}"),
        Err(err) => format!("error: {}", sandbox::describe(&err).0),
    }
}

/// Each case: a script and its expected result (debug text), or "error: " and a part
/// of the message.
fn check(cases: &[(&str, &str)]) {
    let mut failed = Vec::new();
    for (script, expected) in cases {
        let got = eval(script);
        let ok = match expected.strip_prefix("error: ") {
            Some(part) => got.starts_with("error: ") && got.contains(part),
            None => got == *expected,
        };
        if !ok {
            failed.push(format!(
                "{script}\n    expected {expected}\n    got      {got}"
            ));
        }
    }
    assert!(failed.is_empty(), "\n{}", failed.join("\n"));
}

#[test]
fn get_follows_paths_in_json_rhai_maps_and_arrays() {
    check(&[
        (
            r#"get(estimate, "estimateItineraries[0].voyageEstimateBunkers[0].departureQty")"#,
            "1199.2",
        ),
        (
            r#"get(estimate, "estimateItineraries[-1].portName")"#,
            r#""ROTTERDAM ""#,
        ),
        (r#"get(estimate, "voyageResults")["tce"]"#, "11350.5"),
        (
            r#"get(rows, "[0].voyageEstimateBunkers[0].fuelType")"#,
            r#""LSF""#,
        ),
        (r#"get(#{ a: #{ b: [1, 2] } }, "a.b[1]")"#, "2"),
        (
            r#"let m = #{ vessel: #{ dwt: 58000 } }; get(m, "vessel.dwt")"#,
            "58000",
        ),
        (
            r#"let m = #{ vessel: estimate }; get(m, "vessel.voyageResults.voyageDays")"#,
            "41.25",
        ),
        // Rhai's own map.get(key) still works.
        (r#"#{ a: 1 }.get("a")"#, "1"),
        // Missing and null steps give () or the default.
        (r#"get(estimate, "voyageResults.tce.deeper")"#, "()"),
        (
            r#"get(estimate, "estimateItineraries[3].arrivalDate", "none")"#,
            r#""none""#,
        ),
        (
            r#"get(estimate, "estimateItineraries[9].speed", 12.0)"#,
            "12.0",
        ),
        (r#"get(#{ a: #{ b: 1 } }, "a.x", 0)"#, "0"),
        (r#"get((), "a.b", 5)"#, "5"),
        (r#"get(rows, "portName")"#, "()"),
        // Wrong types and bad paths.
        (
            r#"get(estimate, "a..b")"#,
            "error: get(value, path): `a..b` is not a path; write it like",
        ),
        (
            r#"get(estimate, 3)"#,
            "error: get(value, path): path must be a string like \"portDays\"",
        ),
        (
            r#"get(estimate, 3, 0)"#,
            "error: get(value, path, default): path must be a string",
        ),
    ]);
}

#[test]
fn paths_parse_or_explain() {
    assert_eq!(parse_path("h", "a.b[0][-1].c").unwrap().len(), 5);
    for bad in ["a..b", "a[x]", "a[0", "a[0]b", ""] {
        let err = parse_path("sum(items, path)", bad)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("sum(items, path): `"), "{bad}: {err}");
        assert!(err.contains("is not a path"), "{bad}: {err}");
    }
}

#[test]
fn dates_parse_in_the_forms_the_estimator_sends() {
    let cases = [
        ("2026-12-01", "2026-12-01T00:00:00+00:00", Form::DateOnly),
        (
            "2026-12-01T08:30:00Z",
            "2026-12-01T08:30:00+00:00",
            Form::Offset { z: true },
        ),
        (
            "2026-12-01T08:30:00+02:00",
            "2026-12-01T08:30:00+02:00",
            Form::Offset { z: false },
        ),
        (
            "2026-12-01 08:30:00+02:00",
            "2026-12-01T08:30:00+02:00",
            Form::Offset { z: false },
        ),
        (
            "2026-12-01T08:30Z",
            "2026-12-01T08:30:00+00:00",
            Form::Offset { z: true },
        ),
        (
            "2026-12-01T08:30+02:00",
            "2026-12-01T08:30:00+02:00",
            Form::Offset { z: false },
        ),
        (
            "2026-12-01T08:30:00",
            "2026-12-01T08:30:00+00:00",
            Form::NoOffset,
        ),
        (
            "2026-12-01T08:30:00.250",
            "2026-12-01T08:30:00.250+00:00",
            Form::NoOffset,
        ),
        (
            "2026-12-01 08:30",
            "2026-12-01T08:30:00+00:00",
            Form::NoOffset,
        ),
    ];
    for (text, expected, form) in cases {
        let date = Date::parse(text).unwrap_or_else(|| panic!("{text}"));
        assert_eq!(date.at.to_rfc3339(), expected, "{text}");
        assert_eq!(date.form, form, "{text}");
    }
    for bad in [
        "01/12/2026",
        "2026-13-01",
        "",
        "tomorrow",
        "2026-12-01T25:00:00Z",
    ] {
        assert!(parse_date(bad).is_none(), "{bad}");
    }
}

#[test]
fn date_helpers_compute_compare_and_keep_the_form_they_were_given() {
    check(&[
        (r#"days_between("2027-01-12", "2027-01-13T12:00:00Z")"#, "1.5"),
        (r#"days_between("2027-01-13", "2027-01-12")"#, "-1.0"),
        (r#"hours_between("2027-01-13T14:04:48+08:00", "2027-01-13T14:04:48Z")"#, "8.0"),
        // No offset reads as UTC.
        (r#"hours_between("2027-01-13T14:04:48", "2027-01-13T14:04:48Z")"#, "0.0"),
        (r#"days_between(estimate.estimateCargoes[0].laycanTo, estimate.estimateItineraries[1].arrivalDate)"#, "1.5866666666666667"),
        (r#"add_days("2027-01-12", 1)"#, r#""2027-01-13""#),
        (r#"add_days("2027-01-12", 0.5)"#, r#""2027-01-12T12:00:00""#),
        (r#"add_days("2027-01-12", -2)"#, r#""2027-01-10""#),
        (r#"sub_days("2027-01-12", 2)"#, r#""2027-01-10""#),
        (r#"sub_days("2027-01-12", -2)"#, r#""2027-01-14""#),
        (r#"add_days("2027-01-13T14:04:48+08:00", 1)"#, r#""2027-01-14T14:04:48+08:00""#),
        (r#"add_hours("2027-01-13T14:04:48+08:00", 10)"#, r#""2027-01-14T00:04:48+08:00""#),
        (r#"sub_hours("2027-01-13T14:04:48Z", 15)"#, r#""2027-01-12T23:04:48Z""#),
        (r#"add_hours("2027-01-13T14:04:48", 1.5)"#, r#""2027-01-13T15:34:48""#),
        (r#"add_hours("2027-01-13", 6)"#, r#""2027-01-13T06:00:00""#),
        (r#"add_hours("2027-01-13T14:04+08:00", 0)"#, r#""2027-01-13T14:04:00+08:00""#),
        (r#"add_days(estimate.estimateCargoes[0].laycanTo, 1)"#, r#""2027-01-13""#),
        (r#"is_before("2027-01-13T14:04:48+08:00", "2027-01-13T14:04:48Z")"#, "true"),
        (r#"is_before("2027-01-13", "2027-01-13T00:00:00Z")"#, "false"),
        (r#"is_after("2027-01-13T14:04:48+08:00", "2027-01-13")"#, "true"),
        (r#"is_after(estimate.estimateItineraries[0].arrivalDate, add_days(estimate.estimateCargoes[1].laycanTo, 1))"#, "true"),
        (r#"is_date("2027-01-13")"#, "true"),
        (r#"is_date("2027-01-13T14:04:48+08:00")"#, "true"),
        (r#"is_date("13/01/2027")"#, "false"),
        (r#"is_date(estimate.estimateItineraries[3].arrivalDate)"#, "false"),
        (r#"is_date(42)"#, "false"),
        (r#"format_date("2027-01-13T14:04:48+08:00", "%d %b %Y %H:%M (%:z)")"#, r#""13 Jan 2027 14:04 (+08:00)""#),
        (r#"format_date("2027-01-13", "%d %b %Y")"#, r#""13 Jan 2027""#),
        // Wrong types and unreadable dates name the helper, the argument and the text.
        (r#"days_between("2027-01-12", 5)"#, "error: days_between(from, to): to must be a date like \"2026-12-01\" or \"2026-12-01T08:00:00Z\", got a number"),
        (r#"hours_between((), "2027-01-12")"#, "error: hours_between(from, to): from must be a date like \"2026-12-01\" or \"2026-12-01T08:00:00Z\", got nothing"),
        (r#"add_days("13/01/2027", 1)"#, "error: add_days(date, days): date \"13/01/2027\" is not an ISO 8601 date"),
        (r#"sub_days("2027-01-13", "1")"#, "error: sub_days(date, days): days must be a number, got a string (\"1\")"),
        (r#"add_hours("2027-01-13", ())"#, "error: add_hours(date, hours): hours must be a number, got nothing"),
        (r#"sub_hours("2027-01-13", "x")"#, "error: sub_hours(date, hours): hours must be a number"),
        (r#"add_days("2027-01-13", 1e20)"#, "error: add_days(date, days): moving \"2027-01-13\" by 100000000000000000000 days leaves the calendar"),
        (r#"add_days("2027-01-13", 3000000)"#, r#""+10240-10-03""#),
        (r#"sub_days("2027-01-13", 200000000)"#, "error: sub_days(date, days): moving \"2027-01-13\" by 200000000 days leaves the calendar"),
        (r#"is_before(estimate.estimateItineraries[3].arrivalDate, "2027-01-13")"#, "error: is_before(a, b): a must be a date like"),
        (r#"is_after("2027-01-13", "soon")"#, "error: is_after(a, b): b \"soon\" is not an ISO 8601 date"),
        (r#"format_date("2027-01-13", "%Q")"#, "error: format_date(date, pattern): `%Q` is not a valid pattern"),
        (r#"format_date("2027-01-13", 5)"#, "error: format_date(date, pattern): pattern must be a string"),
        (r#"format_date(20270113, "%d")"#, "error: format_date(date, pattern): date must be a date like"),
    ]);
}

#[test]
fn number_helpers_round_and_format() {
    check(&[
        (r#"round(1199.2049, 2)"#, "1199.2"),
        (r#"round(2.5, 0)"#, "3.0"),
        (r#"round(-2.5, 0)"#, "-3.0"),
        (r#"round(7, 1)"#, "7.0"),
        (r#"round(1199.2049, 2.0)"#, "1199.2"),
        (r#"round(1e300, 12)"#, "1e300"),
        (r#"is_number(3)"#, "true"),
        (r#"is_number(estimate.voyageResults.tce)"#, "true"),
        (r#"is_number("3")"#, "false"),
        (r#"is_number(estimate.nothing)"#, "false"),
        (r#"format_number(1234567.891, 2)"#, r#""1,234,567.89""#),
        (r#"format_number(11350, 0)"#, r#""11,350""#),
        (r#"format_number(-0.4, 0)"#, r#""0""#),
        (r#"format_number(2.5, 0)"#, r#""3""#),
        (r#"format_number(999.999, 2)"#, r#""1,000.00""#),
        (r#"format_money(1234.5, "USD")"#, r#""USD 1,234.50""#),
        (r#"format_money(-11350.5, "USD", 0)"#, r#""USD -11,351""#),
        (r#"format_money(estimate.voyageResults.tce, " EUR ", 1)"#, r#""EUR 11,350.5""#),
        (r#"format_money(1234.5, "")"#, r#""1,234.50""#),
        (r#"format_percent(2.5, 2)"#, r#""2.50%""#),
        (r#"format_percent(estimate.estimateCargoes[0].addressCommission, 2)"#, r#""3.75%""#),
        (r#"format_percent(1250, 0)"#, r#""1,250%""#),
        (r#"format_percent(0.025, 1)"#, r#""0.0%""#),
        // Wrong types and places.
        (r#"round("12,5", 1)"#, "error: round(number, places): number must be a number, got a string (\"12,5\")"),
        (r#"round(1.5, 13)"#, "error: round(number, places): places must be a whole number from 0 to 12, got 13"),
        (r#"round(1.5, 1.5)"#, "error: round(number, places): places must be a whole number from 0 to 12, got 1.5"),
        (r#"round(1.5, "2")"#, "error: round(number, places): places must be a whole number from 0 to 12, got a string (\"2\")"),
        (r#"format_number(estimate.nothing, 2)"#, "error: format_number(number, places): number must be a number, got nothing"),
        (r#"format_number(1, -1)"#, "error: format_number(number, places): places must be a whole number from 0 to 12, got -1"),
        (r#"format_money(1, 840)"#, "error: format_money(amount, currency): currency must be a currency code like \"USD\", got a number"),
        (r#"format_money("1", "USD", 2)"#, "error: format_money(amount, currency, places): amount must be a number, got a string"),
        (r#"format_money(1, "USD", 20)"#, "error: format_money(amount, currency, places): places must be a whole number"),
        (r#"format_percent("2.5%", 1)"#, "error: format_percent(percent, places): percent must be a number, got a string (\"2.5%\")"),
    ]);
}

#[test]
fn thousands_are_grouped() {
    assert_eq!(group_thousands("1234567.89"), "1,234,567.89");
    assert_eq!(group_thousands("-11350"), "-11,350");
    assert_eq!(group_thousands("999"), "999");
    assert_eq!(group_thousands("1000"), "1,000");
}

#[test]
fn sums_minima_maxima_and_averages_over_json_and_rhai_arrays() {
    check(&[
        (r#"sum(estimate.estimateItineraries, "portDays")"#, "6.0"),
        (r#"sum(rows, "portDays")"#, "6.0"),
        (r#"sum(estimate.estimateItineraries, "voyageEstimateBunkers[0].departureQty")"#, "1509.2"),
        (r#"sum(rows, "voyageEstimateBunkers[-1].departureQty")"#, "1509.2"),
        (r#"sum([1, 2.5, ()])"#, "3.5"),
        (r#"sum(estimate.nothing, "portDays")"#, "0.0"),
        (r#"sum([], "portDays")"#, "0.0"),
        (r#"min_of(estimate.estimateItineraries, "portDays")"#, "0.5"),
        (r#"min_of(rows, "portDays")"#, "0.5"),
        (r#"max_of(estimate.estimateItineraries, "portDays")"#, "3"),
        (r#"max_of(rows, "portDays")"#, "3"),
        (r#"max_of([2, 7.5, 7])"#, "7.5"),
        (r#"min_of(estimate.estimateItineraries, "arrivalDate")"#, r#""2027-01-10T06:00:00-03:00""#),
        (r#"max_of(rows, "arrivalDate")"#, r#""2027-02-20T08:00:00+08:00""#),
        (r#"min_of(estimate.estimateCargoes, "laycanFrom")"#, r#""2027-01-05""#),
        (r#"min_of(estimate.dates)"#, r#""2027-01-13""#),
        (r#"max_of(estimate.dates)"#, r#""2027-01-13T14:04:48Z""#),
        (r#"max_of([], "portDays")"#, "()"),
        (r#"min_of(estimate.nothing, "portDays")"#, "()"),
        (r#"max_of([#{ portDays: () }], "portDays")"#, "()"),
        (r#"average_of(estimate.estimateItineraries, "portDays")"#, "2.0"),
        (r#"average_of(rows, "portDays")"#, "2.0"),
        (r#"average_of(estimate.estimateCargoes, "brokerage")"#, "1.25"),
        (r#"average_of([3, 4])"#, "3.5"),
        (r#"average_of([])"#, "()"),
        (r#"average_of(estimate.nothing, "x")"#, "()"),
        // Rhai's own min/max of two values are untouched.
        (r#"max(1, 2)"#, "2"),
        (r#"max(1.5, 2)"#, "2.0"),
        (r#"min(3, 1.5)"#, "1.5"),
        // Wrong types name the helper, the argument and the element.
        (r#"sum("abc", "portDays")"#, "error: sum(items, path): items must be an array, got a string"),
        (r#"sum(estimate.mixed)"#, "error: sum(items): items[1] must be a number, got a string (\"two\")"),
        (r#"sum(rows, "a..b")"#, "error: sum(items, path): `a..b` is not a path"),
        (r#"sum(rows, 1)"#, "error: sum(items, path): path must be a string"),
        (r#"min_of(estimate, "portDays")"#, "error: min_of(items, path): items must be an array, got a map"),
        (r#"min_of(rows, "portName")"#, "error: min_of(items, path): items[0].portName must be a number or an ISO 8601 date, got a string (\"SANTOS\")"),
        (r#"max_of(estimate.mixed)"#, "error: max_of(items): items[1] must be a number or an ISO 8601 date, got a string (\"two\")"),
        (r#"min_of([1, "2027-01-13"])"#, "error: min_of(items): items[1] must be a number like the values before it"),
        (r#"max_of(["2027-01-13", 1])"#, "error: max_of(items): items[1] must be a date like the values before it, got a number"),
        (r#"max_of(42)"#, "error: max_of(items): items must be an array, got a number"),
        (r#"average_of(rows, "portName")"#, "error: average_of(items, path): items[0].portName must be a number, got a string (\"SANTOS\")"),
        (r#"average_of(estimate.estimateItineraries, "arrivalDate")"#, "error: average_of(items, path): items[0].arrivalDate must be a number"),
        (r#"average_of(#{ a: 1 })"#, "error: average_of(items): items must be an array, got a map"),
    ]);
}

#[test]
fn find_find_all_and_count_where_compare_text_ignoring_case() {
    check(&[
        (r#"find(estimate.estimateItineraries, "portName", "santos").portFunction"#, r#""Load""#),
        (r#"find(rows, "portName", "qingdao").portDays"#, "2.5"),
        (r#"find(estimate.estimateItineraries, "portName", "Rotterdam").portFunction"#, r#""Discharge""#),
        (r#"find(estimate.estimateItineraries, "portDays", 2.5).portName"#, r#""QINGDAO""#),
        (r#"find(rows, "portDays", 3.0).portName"#, r#""SANTOS""#),
        (r#"find(estimate.estimateItineraries, "voyageEstimateBunkers[0].departureQty", 310).portName"#, r#""QINGDAO""#),
        (r#"find(estimate.estimateCargoes, "charterer", "bunge").cargoName"#, r#""Soybeans""#),
        (r#"find(estimate.estimateItineraries, "portName", "HOUSTON")"#, "()"),
        (r#"find(estimate.estimateItineraries, "portName", estimate.nothing)"#, "()"),
        (r#"find(estimate.nothing, "portName", "SANTOS")"#, "()"),
        (r#"find_all(estimate.estimateItineraries, "portName", "santos").len()"#, "2"),
        (r#"find_all(rows, "portFunction", "discharge").len()"#, "2"),
        (r#"find_all(estimate.estimateItineraries, "portFunction", "DISCHARGE")[1].portName"#, r#""ROTTERDAM ""#),
        (r#"find_all(rows, "portName", "HOUSTON")"#, "[]"),
        (r#"count_where(estimate.estimateItineraries, "portName", "SANTOS")"#, "2"),
        (r#"count_where(rows, "portFunction", "Discharge")"#, "2"),
        (r#"count_where(estimate.estimateItineraries, "portDays", 3)"#, "1"),
        (r#"count_where(estimate.estimateItineraries, "arrivalDate", ())"#, "0"),
        (r#"count_where([#{ ok: true }, #{ ok: false }, #{ ok: true }], "ok", true)"#, "2"),
        (r#"count_where([#{ n: "1" }, #{ n: 1 }], "n", 1)"#, "1"),
        // Wrong types.
        (r#"find(rows, "portName", [1])"#, "error: find(items, path, value): value must be text, a number or true/false, got an array"),
        (r#"find(42, "portName", ())"#, "error: find(items, path, value): items must be an array, got a number"),
        (r#"find_all(42, "x", 1)"#, "error: find_all(items, path, value): items must be an array, got a number"),
        (r#"find_all(rows, "x", #{})"#, "error: find_all(items, path, value): value must be text, a number or true/false, got a map"),
        (r#"count_where(rows, 5, "x")"#, "error: count_where(items, path, value): path must be a string"),
        (r#"count_where(estimate.voyageResults, "tce", 1)"#, "error: count_where(items, path, value): items must be an array, got a map"),
    ]);
}

#[test]
fn the_manuals_examples_compose() {
    // The shapes used in rules/README.md's helper reference, on the sample estimate.
    check(&[
        (
            r#"let row = estimate.estimateItineraries[0]; add_hours(row.arrivalDate, row.portDays * 24)"#,
            r#""2027-01-13T06:00:00-03:00""#,
        ),
        (
            r#"let cargo = estimate.estimateCargoes[0]; sub_days(cargo.laycanFrom, 3)"#,
            r#""2027-01-05""#,
        ),
        (
            r#"let tce = 11350.33; format_money(tce, "USD", 0) + "/day""#,
            r#""USD 11,350/day""#,
        ),
        (
            r#"let floor = 12000; let tce = 11350.33; format_percent((floor - tce) / floor * 100, 1)"#,
            r#""5.4%""#,
        ),
        (r#"format_money(-649.67, "USD")"#, r#""USD -649.67""#),
        (
            r#"let a = average_of(estimate.estimateItineraries, "portDays"); a != () && a > 1"#,
            "true",
        ),
        (
            r#"let a = average_of([], "portDays"); a != () && a > 1"#,
            "false",
        ),
        (
            r#"sum(find_all(estimate.estimateItineraries, "portFunction", "discharge"), "portDays")"#,
            "2.5",
        ),
        (
            r#"let n = 0; for row in estimate.estimateItineraries { if is_date(row.arrivalDate) { n += 1; } } n"#,
            "3",
        ),
        (r#"format_date("2026-12-30", "%d %b")"#, r#""30 Dec""#),
    ]);
}

#[test]
fn text_helpers_ignore_case() {
    check(&[
        (r#"same_text("Bunge ", "BUNGE")"#, "true"),
        (
            r#"same_text(estimate.estimateCargoes[1].charterer, "Oceanic Grain")"#,
            "true",
        ),
        (r#"same_text("São Paulo", "SÃO PAULO")"#, "true"),
        (r#"same_text("Santos", "Santo")"#, "false"),
        (r#"same_text(estimate.nothing, "Santos")"#, "false"),
        (r#"same_text((), ())"#, "false"),
        (
            r#"contains_any(estimate.remarks, ["ice", "war risk"])"#,
            "true",
        ),
        (
            r#"contains_any(estimate.remarks, ["war risk", "piracy"])"#,
            "false",
        ),
        (r#"contains_any(estimate.remarks, "BALTIC")"#, "true"),
        (r#"contains_any(estimate.remarks, estimate.words)"#, "true"),
        (
            r#"contains_any("Überseehafen Hamburg", ["überSEE"])"#,
            "true",
        ),
        (r#"contains_any(estimate.nothing, ["ice"])"#, "false"),
        (r#"contains_any("ice", [])"#, "false"),
        (r#"contains_any("ice", ["", ()])"#, "false"),
        (r#"contains_any("ice", ())"#, "false"),
        // Wrong types.
        (
            r#"same_text(1, "x")"#,
            "error: same_text(a, b): a must be a string, got a number",
        ),
        (
            r#"same_text("x", estimate.voyageResults)"#,
            "error: same_text(a, b): b must be a string, got a map",
        ),
        (
            r#"contains_any(5, ["x"])"#,
            "error: contains_any(text, words): text must be a string, got a number",
        ),
        (
            r#"contains_any("x", ["a", 5])"#,
            "error: contains_any(text, words): words[1] must be a string, got a number",
        ),
        (
            r#"contains_any("x", #{ a: 1 })"#,
            "error: contains_any(text, words): words must be an array, got a map",
        ),
        (
            r#"contains_any("x", estimate.voyageResults)"#,
            "error: contains_any(text, words): words must be an array, got a map",
        ),
    ]);
}

/// Runs `f` under a deadline `budget` from now: its result and how long it took.
fn under_deadline<T>(budget: Duration, f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    Run::begin(started + budget, &Limits::default());
    let result = f();
    Run::finish();
    (result, started.elapsed())
}

fn eval_until(script: &str, rows: &Dynamic, budget: Duration) -> (Res<Dynamic>, Duration) {
    let mut scope = Scope::new();
    scope.push_dynamic("rows", rows.clone());
    under_deadline(budget, || {
        engine().eval_with_scope::<Dynamic>(&mut scope, script)
    })
}

fn stopped_at_deadline<T: std::fmt::Debug>(result: &Res<T>) -> bool {
    matches!(result.as_ref().map_err(|e| &**e), Err(EvalAltResult::ErrorTerminated(reason, _)) if reason.to_string() == sandbox::STOP_DEADLINE)
}

#[test]
fn every_helper_stops_when_the_deadline_has_passed() {
    let calls = [
        r#"get(rows, "[0]")"#,
        r#"get(rows, "[0]", 1)"#,
        r#"get(#{ a: 1 }, "a")"#,
        r#"days_between("2027-01-12", "2027-01-13")"#,
        r#"hours_between("2027-01-12", "2027-01-13")"#,
        r#"add_days("2027-01-12", 1)"#,
        r#"sub_days("2027-01-12", 1)"#,
        r#"add_hours("2027-01-12", 1)"#,
        r#"sub_hours("2027-01-12", 1)"#,
        r#"is_before("2027-01-12", "2027-01-13")"#,
        r#"is_after("2027-01-12", "2027-01-13")"#,
        r#"is_date("2027-01-12")"#,
        r#"format_date("2027-01-12", "%d")"#,
        r#"round(1.5, 0)"#,
        r#"is_number(1)"#,
        r#"format_number(1, 0)"#,
        r#"format_money(1, "USD")"#,
        r#"format_money(1, "USD", 0)"#,
        r#"format_percent(1, 0)"#,
        r#"sum(rows)"#,
        r#"sum(rows, "x")"#,
        r#"min_of(rows)"#,
        r#"min_of(rows, "x")"#,
        r#"max_of(rows)"#,
        r#"max_of(rows, "x")"#,
        r#"average_of(rows)"#,
        r#"average_of(rows, "x")"#,
        r#"find(rows, "x", 1)"#,
        r#"find_all(rows, "x", 1)"#,
        r#"count_where(rows, "x", 1)"#,
        r#"same_text("a", "A")"#,
        r#"contains_any("a", ["a"])"#,
    ];
    let rows = Dynamic::from_array(vec![Dynamic::from_int(1)]);
    for call in calls {
        let (result, _) = eval_until(call, &rows, Duration::ZERO);
        assert!(stopped_at_deadline(&result), "{call}: {result:?}");
    }
}

/// Issue 12, finding 9: `contains_any` compared every window of the text with the
/// word (text × word: ~90 s for a 1 MiB text and a 500 KB word, past any deadline).
/// Now the whole call is linear: it finishes, well inside a deadline the old code
/// overran by minutes.
#[test]
fn contains_any_is_linear_in_text_and_words() {
    let script = r#"
        let text = "";
        text.pad(1000000, "a");
        let word = "";
        word.pad(500000, "a");
        word += "b";
        let short = "";
        short.pad(300, "a");
        short += "b";
        let many = [];
        for i in 0..2000 { many.push(short); }
        [contains_any(text, [word]), contains_any(text, many), contains_any(text + "b", [word])]
    "#;
    let rows = Dynamic::UNIT;
    let (result, _) = eval_until(script, &rows, Duration::from_secs(5));
    let result = result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(format!("{result:?}"), "[false, false, true]");
}

#[test]
fn a_helper_over_a_huge_list_stops_at_the_deadline() {
    // Dates are the slowest elements to compare, so the walk takes long enough to
    // measure; the deadline falls a tenth of the way through it.
    const N: usize = 400_000;
    const DATE: &str = "2027-01-13T14:04:48+08:00";
    let text = format!("[{}]", vec![format!("\"{DATE}\""); N].join(","));
    let json_rows = Dynamic::from(Json::new(Arc::new(json::parse(&text).unwrap())));
    // A script cannot hold a Rhai array this big (100,000 elements, 1 MiB of text), so
    // the Rhai array goes to the helper directly: the walk is the same.
    let rhai_rows = Dynamic::from_array(vec![Dynamic::from(ImmutableString::from(DATE)); N]);
    type Walk<'a> = Box<dyn Fn(Duration) -> (Res<Dynamic>, Duration) + 'a>;
    let runs: [(&str, Walk); 2] = [
        (
            "max_of over a JSON array",
            Box::new(|budget| eval_until("max_of(rows)", &json_rows, budget)),
        ),
        (
            "max_of over a Rhai array",
            Box::new(|budget| {
                under_deadline(budget, || {
                    extreme("max_of(items)", &rhai_rows, None, Ordering::Greater)
                })
            }),
        ),
    ];
    for (what, run) in runs {
        let (full, full_time) = run(Duration::from_secs(60));
        assert_eq!(
            full.map(|v| v.to_string()).ok().as_deref(),
            Some(DATE),
            "{what}"
        );
        let (cut, took) = run(full_time / 10);
        assert!(stopped_at_deadline(&cut), "{what}: {cut:?}");
        assert!(
            took < full_time / 2,
            "{what}: stopped after {took:?}; the whole walk takes {full_time:?}"
        );
    }
}

#[test]
fn to_number_reads_numbers_written_as_text() {
    check(&[
        ("to_number(12)", "12"),
        ("to_number(12.5)", "12.5"),
        (r#"to_number("58600")"#, "58600"),
        (r#"to_number(" -3.5 ")"#, "-3.5"),
        (r#"to_number("1e3")"#, "1000.0"),
        (r#"to_number("99999999999999999999")"#, "1e20"),
        (
            r#"to_number("00123")"#,
            "error: to_number: \"00123\" is not a number",
        ),
        (r#"to_number("1,000")"#, "error: is not a number"),
        (r#"to_number("NaN")"#, "error: is not a number"),
        (r#"to_number("")"#, "error: is not a number"),
        (
            "to_number(())",
            "error: to_number: the value must be a number or a string holding one, got nothing",
        ),
        ("parse_float(7)", "7.0"),
        ("parse_int(7)", "7"),
    ]);
}
