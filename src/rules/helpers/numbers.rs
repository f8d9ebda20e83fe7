//! Numbers: rounding, money and the numeric argument checks.

use rhai::{Dynamic, Engine};

use super::*;
use crate::rules::json::runtime_error;
use crate::rules::sandbox::check_limits;

pub(super) fn register_numbers(engine: &mut Engine) {
    engine
        .register_fn("round", |x: Dynamic, places: Dynamic| -> Res<f64> {
            check_limits()?;
            let h = "round(number, places)";
            Ok(round(number_arg(h, "number", &x)?, places_arg(h, &places)?))
        })
        .register_fn("to_number", |x: Dynamic| -> Res<Dynamic> {
            check_limits()?;
            to_number(&x)
        })
        // CSV cells in numeric columns are numbers: rules written when every cell was
        // text (`parse_float(row.dwt)`) keep working.
        .register_fn("parse_float", |x: i64| x as f64)
        .register_fn("parse_float", |x: f64| x)
        .register_fn("parse_int", |x: i64| x)
        .register_fn("is_number", |x: Dynamic| -> Res<bool> {
            check_limits()?;
            Ok(x.is_int() || x.is_float())
        })
        .register_fn(
            "format_number",
            |x: Dynamic, places: Dynamic| -> Res<String> {
                check_limits()?;
                let h = "format_number(number, places)";
                Ok(fixed(number_arg(h, "number", &x)?, places_arg(h, &places)?))
            },
        )
        .register_fn("format_money", |x: Dynamic, currency: Dynamic| {
            money("format_money(amount, currency)", &x, &currency, None)
        })
        .register_fn(
            "format_money",
            |x: Dynamic, currency: Dynamic, places: Dynamic| {
                money(
                    "format_money(amount, currency, places)",
                    &x,
                    &currency,
                    Some(&places),
                )
            },
        )
        .register_fn(
            "format_percent",
            |x: Dynamic, places: Dynamic| -> Res<String> {
                check_limits()?;
                let h = "format_percent(percent, places)";
                let mut out = fixed(number_arg(h, "percent", &x)?, places_arg(h, &places)?);
                out.push('%');
                Ok(out)
            },
        );
}

/// `to_number(x)`: a number as it is; a string holding a number (`"58600"`,
/// `" -3.5 "`, `"1e3"`) as that number, an integer when it is one; anything else is
/// an error that says what it got.
pub(super) fn to_number(x: &Dynamic) -> Res<Dynamic> {
    if x.is_int() || x.is_float() {
        return Ok(x.clone());
    }
    if let Ok(text) = x.as_immutable_string_ref() {
        let t = text.trim();
        if let Some(n) = text_number(t) {
            return Ok(match n.as_i64() {
                Some(i) => Dynamic::from_int(i),
                None => Dynamic::from_float(n.as_f64().unwrap_or(f64::NAN)),
            });
        }
        return Err(runtime_error(format!(
            "to_number: {:?} is not a number",
            text.chars().take(40).collect::<String>()
        )));
    }
    Err(runtime_error(format!(
        "to_number: the value must be a number or a string holding one, got {}",
        type_name(x)
    )))
}

/// The number a text holds, written as JSON writes numbers (an optional minus, no
/// leading zeros, an optional fraction and exponent): `"58600"`, `"-3.5"`, `"1e3"`.
/// `"00123"`, `"+5"`, `"1,000"`, `"NaN"` and `""` are not numbers. Integers that fit
/// stay integers.
pub fn text_number(text: &str) -> Option<serde_json::Number> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let int_part = digits.split(['.', 'e', 'E']).next()?;
    if int_part.is_empty()
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || (int_part.len() > 1 && int_part.starts_with('0'))
    {
        return None;
    }
    if let Ok(i) = text.parse::<i64>() {
        return Some(i.into());
    }
    // serde_json decides the rest of the grammar (fraction, exponent).
    let number = serde_json::from_str::<serde_json::Number>(text).ok()?;
    serde_json::Number::from_f64(number.as_f64()?)
}

pub(super) fn money(
    helper: &str,
    x: &Dynamic,
    currency: &Dynamic,
    places: Option<&Dynamic>,
) -> Res<String> {
    check_limits()?;
    let amount = number_arg(helper, "amount", x)?;
    let currency = text_arg(helper, "currency", "a currency code like \"USD\"", currency)?;
    let places = places.map_or(Ok(2), |p| places_arg(helper, p))?;
    let number = fixed(amount, places);
    let currency = currency.trim();
    Ok(if currency.is_empty() {
        number
    } else {
        format!("{currency} {number}")
    })
}

/// `x` rounded to `places` decimals, halves away from zero (2.5 -> 3, -2.5 -> -3).
pub(super) fn round(x: f64, places: usize) -> f64 {
    let scale = 10f64.powi(places as i32);
    let scaled = x * scale;
    if scaled.is_finite() {
        scaled.round() / scale
    } else {
        x
    }
}

/// `x` with `places` decimals and thousands separators, rounded like [`round`] (Rust's
/// own formatting rounds halves to even); never "-0".
pub(super) fn fixed(x: f64, places: usize) -> String {
    let plain = format!("{:.places$}", round(x, places));
    let plain = match plain.strip_prefix('-') {
        Some(rest) if rest.bytes().all(|b| b == b'0' || b == b'.') => rest,
        _ => &plain,
    };
    group_thousands(plain)
}

/// "1234567.891" -> "1,234,567.891".
pub(super) fn group_thousands(plain: &str) -> String {
    let (sign, rest) = plain.strip_prefix('-').map_or(("", plain), |r| ("-", r));
    let (int, frac) = rest
        .split_once('.')
        .map_or((rest, None), |(i, f)| (i, Some(f)));
    let mut out = String::with_capacity(plain.len() + int.len() / 3);
    out.push_str(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(frac) = frac {
        out.push('.');
        out.push_str(frac);
    }
    out
}
