//! Money as the platform shows it: amounts are stored in a currency's minor units, and this
//! is the one place that knows how many decimals each currency has (ISO 4217's minor-unit
//! column) and prints an amount. The bot, the CSV exports and the dashboard all print
//! through [`format_minor`], so they always agree.

/// Currencies whose ISO 4217 minor unit is not 2, with their number of decimals. Every
/// other currency has 2. (`XTR`, Telegram Stars, is not ISO 4217 but is counted whole.)
const MINOR_UNITS: &[(&str, u32)] = &[
    // No minor unit.
    ("BIF", 0),
    ("CLP", 0),
    ("DJF", 0),
    ("GNF", 0),
    ("ISK", 0),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("PYG", 0),
    ("RWF", 0),
    ("UGX", 0),
    ("UYI", 0),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("XPF", 0),
    ("XTR", 0),
    // Three decimals.
    ("BHD", 3),
    ("IQD", 3),
    ("JOD", 3),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("TND", 3),
    // Four decimals.
    ("CLF", 4),
    ("UYW", 4),
];

/// Decimals of `currency` (ISO 4217 minor units; 2 unless listed otherwise).
pub fn minor_units(currency: &str) -> u32 {
    MINOR_UNITS
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(currency))
        .map_or(2, |(_, n)| *n)
}

/// An amount in minor units as a decimal number in major units, with exactly the
/// currency's decimals: `999 USD` → `9.99`, `1000 JPY` → `1000`, `150000 UZS` → `1500.00`,
/// `1500 KWD` → `1.500`.
pub fn format_minor(minor: i64, currency: &str) -> String {
    let decimals = minor_units(currency);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if decimals == 0 {
        return format!("{sign}{abs}");
    }
    let scale = 10u64.pow(decimals);
    format!(
        "{sign}{}.{:0width$}",
        abs / scale,
        abs % scale,
        width = decimals as usize
    )
}

/// `USD 9.99`: the currency code, then the amount.
pub fn format_with_code(minor: i64, currency: &str) -> String {
    format!("{currency} {}", format_minor(minor, currency))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_print_with_the_iso_4217_decimals() {
        assert_eq!(format_minor(999, "USD"), "9.99");
        assert_eq!(format_minor(5, "EUR"), "0.05");
        assert_eq!(format_minor(-5, "EUR"), "-0.05");
        assert_eq!(format_minor(1000, "JPY"), "1000");
        assert_eq!(format_minor(150_000, "UZS"), "1500.00");
        assert_eq!(format_minor(1500, "KWD"), "1.500");
        assert_eq!(format_minor(7, "CLF"), "0.0007");
        assert_eq!(format_with_code(10, "USD"), "USD 0.10");
    }

    /// Every currency a plan may be priced in has its decimals from this one table.
    #[test]
    fn every_accepted_currency_has_iso_decimals() {
        for (c, n) in [("CLP", 0), ("KRW", 0), ("VND", 0), ("UZS", 2), ("HUF", 2)] {
            assert_eq!(minor_units(c), n, "{c}");
        }
    }
}
