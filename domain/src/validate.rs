//! Input parsed once at the edge of the domain into checked values. Each parser names the
//! field at fault and a stable code, so the API can show the error beside the field.
use crate::error::{Error, Result};

pub const NAME_MAX: usize = 64;
pub const DURATION_MAX_DAYS: i64 = 36_500;
pub const PASSWORD_MIN: usize = 10;
pub const PASSWORD_MAX: usize = 256;

/// Names of workspaces, projects, plans, API keys: 1–64 characters after trimming.
pub fn name(field: &str, raw: &str) -> Result<String> {
    let v = raw.trim();
    let n = v.chars().count();
    if n == 0 {
        return Err(Error::field(field, "required", "must not be empty"));
    }
    if n > NAME_MAX {
        return Err(Error::field(
            field,
            "too_long",
            format!("must be at most {NAME_MAX} characters"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(Error::field(
            field,
            "invalid_characters",
            "must not contain control characters",
        ));
    }
    Ok(v.to_string())
}

/// Emails are trimmed and lower-cased; a plausible address is `local@domain.tld`.
pub fn email(field: &str, raw: &str) -> Result<String> {
    let v = raw.trim().to_lowercase();
    let ok = v.len() <= 254
        && !v.chars().any(char::is_whitespace)
        && match v.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            }
            None => false,
        };
    if !ok {
        return Err(Error::field(
            field,
            "invalid_email",
            "must be an email address",
        ));
    }
    Ok(v)
}

pub fn password<'a>(field: &str, raw: &'a str) -> Result<&'a str> {
    let n = raw.chars().count();
    if n < PASSWORD_MIN {
        return Err(Error::field(
            field,
            "too_short",
            format!("must be at least {PASSWORD_MIN} characters"),
        ));
    }
    if n > PASSWORD_MAX {
        return Err(Error::field(
            field,
            "too_long",
            format!("must be at most {PASSWORD_MAX} characters"),
        ));
    }
    Ok(raw)
}

/// ISO 4217 currency codes Gatehouse accepts (the ones Stripe and Telegram users actually use).
const CURRENCIES: &[&str] = &[
    "AED", "ARS", "AUD", "BDT", "BGN", "BRL", "CAD", "CHF", "CLP", "CNY", "COP", "CZK", "DKK",
    "EGP", "EUR", "GBP", "GEL", "HKD", "HUF", "IDR", "ILS", "INR", "JPY", "KES", "KRW", "KZT",
    "MAD", "MXN", "MYR", "NGN", "NOK", "NZD", "PEN", "PHP", "PKR", "PLN", "QAR", "RON", "RSD",
    "RUB", "SAR", "SEK", "SGD", "THB", "TRY", "TWD", "UAH", "USD", "UZS", "VND", "ZAR",
];

/// An ISO 4217 code, case-insensitive on input, upper-case once parsed.
pub fn currency(field: &str, raw: &str) -> Result<String> {
    let v = raw.trim().to_ascii_uppercase();
    if CURRENCIES.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(Error::field(
            field,
            "invalid_currency",
            "must be an ISO 4217 currency code such as USD or EUR",
        ))
    }
}

/// The most a price may be, in minor units (10¹²: ten billion in a two-decimal currency), so
/// sums of millions of them stay far inside 64 bits.
pub const PRICE_MINOR_MAX: i64 = 1_000_000_000_000;

/// A price in minor units (cents), zero up to [`PRICE_MINOR_MAX`].
pub fn price_minor(field: &str, v: i64) -> Result<i64> {
    if v < 0 {
        return Err(Error::field(
            field,
            "invalid_price",
            "must be 0 or more, in minor units",
        ));
    }
    if v > PRICE_MINOR_MAX {
        return Err(Error::field(
            field,
            "out_of_range",
            "must be at most 1000000000000 minor units",
        ));
    }
    Ok(v)
}

/// The most a plan may cost in Telegram Stars.
pub const STARS_MAX: i64 = 10_000;

/// A price in Telegram Stars: 1–10,000.
pub fn price_stars(field: &str, v: i64) -> Result<i32> {
    if (1..=STARS_MAX).contains(&v) {
        Ok(v as i32)
    } else {
        Err(Error::field(
            field,
            "out_of_range",
            "must be between 1 and 10000 Stars",
        ))
    }
}

/// A free trial's length: 1–90 days.
pub fn trial_days(field: &str, v: i64) -> Result<i32> {
    if (1..=90).contains(&v) {
        Ok(v as i32)
    } else {
        Err(Error::field(
            field,
            "out_of_range",
            "must be between 1 and 90 days",
        ))
    }
}

/// A plan duration: 1–36,500 days, or `None` for lifetime.
pub fn duration_days(field: &str, days: Option<i64>, lifetime: bool) -> Result<Option<i32>> {
    match (days, lifetime) {
        (Some(_), true) => Err(Error::field(
            field,
            "invalid_duration",
            "give either duration_days or lifetime, not both",
        )),
        (None, true) => Ok(None),
        (None, false) => Err(Error::field(
            field,
            "invalid_duration",
            "give duration_days (1–36500) or lifetime: true",
        )),
        (Some(d), false) if (1..=DURATION_MAX_DAYS).contains(&d) => Ok(Some(d as i32)),
        (Some(_), false) => Err(Error::field(
            field,
            "invalid_duration",
            "must be between 1 and 36500 days",
        )),
    }
}

/// Free text such as a welcome message: at most `max` characters.
pub fn text(field: &str, raw: &str, max: usize) -> Result<String> {
    let v = raw.trim();
    // NUL cannot be stored (PostgreSQL refuses it in text) and no one types it.
    if v.contains('\0') {
        return Err(Error::field(
            field,
            "invalid_characters",
            "must not contain NUL characters",
        ));
    }
    if v.chars().count() > max {
        return Err(Error::field(
            field,
            "too_long",
            format!("must be at most {max} characters"),
        ));
    }
    Ok(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_to_sixty_four_characters() {
        assert_eq!(name("n", "  Club ").unwrap(), "Club");
        assert_eq!(name("n", "").unwrap_err().fields["n"].code, "required");
        assert_eq!(name("n", &"é".repeat(64)).unwrap().chars().count(), 64);
        assert_eq!(
            name("n", &"a".repeat(65)).unwrap_err().fields["n"].code,
            "too_long"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(duration_days("d", Some(1), false).unwrap(), Some(1));
        assert_eq!(
            duration_days("d", Some(36_500), false).unwrap(),
            Some(36_500)
        );
        assert_eq!(duration_days("d", None, true).unwrap(), None);
        for bad in [
            (Some(0), false),
            (Some(36_501), false),
            (None, false),
            (Some(3), true),
        ] {
            assert!(duration_days("d", bad.0, bad.1).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn currencies_and_prices() {
        assert_eq!(currency("c", "usd").unwrap(), "USD");
        assert!(currency("c", "US").is_err());
        assert!(currency("c", "XXX").is_err());
        assert!(price_minor("p", -1).is_err());
        assert_eq!(price_minor("p", 0).unwrap(), 0);
        assert_eq!(
            price_minor("p", PRICE_MINOR_MAX).unwrap(),
            1_000_000_000_000
        );
        assert!(price_minor("p", PRICE_MINOR_MAX + 1).is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(email("e", " A@B.io ").unwrap(), "a@b.io");
        for bad in ["", "a", "a@b", "@b.io", "a b@c.io", "a@.io"] {
            assert!(email("e", bad).is_err(), "{bad}");
        }
    }
}
