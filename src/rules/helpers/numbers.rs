//! Numbers: rounding, money and the numeric argument checks.

use rhai::{Dynamic, Engine};

use super::*;
use crate::rules::sandbox::check_limits;

pub(super) fn register_numbers(engine: &mut Engine) {
    engine
        .register_fn("round", |x: Dynamic, places: Dynamic| -> Res<f64> {
            check_limits()?;
            let h = "round(number, places)";
            Ok(round(number_arg(h, "number", &x)?, places_arg(h, &places)?))
        })
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
