//! Access codes themselves: the alphabet, generation and normalisation of a code, the codes'
//! expiry rules, listing and search, delete, rollback and the expiry sweep. Batches (how codes
//! come to exist) are `batches`; the CSV is `export`.
mod lifecycle;
mod listing;

use chrono::{DateTime, Duration, Months, Utc};
pub use lifecycle::*;
pub use listing::*;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use entity::{access_code, activation, project, subscriber};

use crate::{
    AppCtx, audit,
    error::{Error, Result},
    projects, quota,
    scoped::{secure_find_in, secure_get},
    subscriptions,
    tenancy::{Action, TenantCtx},
};

pub use crate::code_text::*;

// --- expiry ---------------------------------------------------------------------------------

/// Expiry of the codes themselves (not of the subscriptions they grant). Exactly one of
/// `preset` (`none`, `1d`, `1w`, `1m`, `1y`), `days` or `date`; absent means no expiry.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExpiryIn {
    pub preset: Option<String>,
    pub days: Option<i64>,
    pub date: Option<DateTime<Utc>>,
}

/// Error code of an expiry date that is not in the future.
pub const EXPIRY_IN_PAST: &str = "expiry_in_past";

/// A parsed expiry rule, as stored on the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Never,
    Day,
    Week,
    Month,
    Year,
    Days(i64),
    Date(DateTime<Utc>),
}

impl Expiry {
    pub fn parse(e: &ExpiryIn, now: DateTime<Utc>) -> Result<Self> {
        let bad = |m: &str| Error::field("expiry", "invalid_expiry", m.to_string());
        let given = usize::from(e.preset.is_some())
            + usize::from(e.days.is_some())
            + usize::from(e.date.is_some());
        if given > 1 {
            return Err(bad("give one of preset, days or date"));
        }
        if let Some(p) = &e.preset {
            return match p.as_str() {
                "none" => Ok(Expiry::Never),
                "1d" => Ok(Expiry::Day),
                "1w" => Ok(Expiry::Week),
                "1m" => Ok(Expiry::Month),
                "1y" => Ok(Expiry::Year),
                _ => Err(bad("preset must be one of none, 1d, 1w, 1m, 1y")),
            };
        }
        if let Some(d) = e.days {
            return if (1..=MAX_CUSTOM_DAYS).contains(&d) {
                Ok(Expiry::Days(d))
            } else {
                Err(bad("days must be between 1 and 36500"))
            };
        }
        if let Some(date) = e.date {
            return if date > now {
                Ok(Expiry::Date(date))
            } else {
                Err(Error::field(
                    "expiry",
                    EXPIRY_IN_PAST,
                    "the expiry date must be in the future",
                ))
            };
        }
        Ok(Expiry::Never)
    }

    /// When codes made at `at` stop being redeemable.
    pub fn expires_at(self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Expiry::Never => None,
            Expiry::Day => Some(at + Duration::days(1)),
            Expiry::Week => Some(at + Duration::weeks(1)),
            Expiry::Month => Some(at + Months::new(1)),
            Expiry::Year => Some(at + Months::new(12)),
            Expiry::Days(d) => Some(at + Duration::days(d)),
            Expiry::Date(d) => Some(d),
        }
    }

    pub(crate) fn kind(self) -> (&'static str, Option<i32>) {
        match self {
            Expiry::Never => ("none", None),
            Expiry::Day => ("1d", None),
            Expiry::Week => ("1w", None),
            Expiry::Month => ("1m", None),
            Expiry::Year => ("1y", None),
            Expiry::Days(d) => ("days", Some(d as i32)),
            Expiry::Date(_) => ("date", None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_twelve_crockford_characters() {
        for _ in 0..1000 {
            let c = new_code();
            assert_eq!(c.len(), CODE_LEN);
            assert!(c.bytes().all(|b| ALPHABET.contains(&b)), "{c}");
        }
    }

    #[test]
    fn typed_input_is_normalised() {
        assert_eq!(normalize("abcd-efgh-jkmn").as_deref(), Some("ABCDEFGHJKMN"));
        assert_eq!(
            normalize(" o0il 1234 5678 ").as_deref(),
            Some("001112345678")
        );
        assert_eq!(normalize("ABCDEFGHJKM"), None, "too short");
        assert_eq!(normalize("ABCDEFGHJKMNP"), None, "too long");
        assert_eq!(
            normalize("ABCDEFGHJKM!"),
            None,
            "foreign character dropped, so too short"
        );
    }

    #[test]
    fn prefix_bounds_follow_the_alphabet() {
        assert_eq!(prefix_upper_bound("AB9").as_deref(), Some("ABA"));
        assert_eq!(prefix_upper_bound("ABH").as_deref(), Some("ABJ"), "no I");
        assert_eq!(prefix_upper_bound("ABZ").as_deref(), Some("AC"));
        assert_eq!(prefix_upper_bound("AZZ").as_deref(), Some("B"));
        assert_eq!(prefix_upper_bound("ZZ"), None);
        assert!(ALPHABET.windows(2).all(|w| w[0] < w[1]), "byte order");
    }

    #[test]
    fn expiry_presets() {
        let now: DateTime<Utc> = "2026-01-31T10:00:00Z".parse().unwrap();
        let p = |s: &str| {
            Expiry::parse(
                &ExpiryIn {
                    preset: Some(s.into()),
                    ..Default::default()
                },
                now,
            )
            .unwrap()
        };
        assert_eq!(p("none").expires_at(now), None);
        assert_eq!(
            p("1d").expires_at(now),
            Some("2026-02-01T10:00:00Z".parse().unwrap())
        );
        assert_eq!(
            p("1w").expires_at(now),
            Some("2026-02-07T10:00:00Z".parse().unwrap())
        );
        assert_eq!(
            p("1m").expires_at(now),
            Some("2026-02-28T10:00:00Z".parse().unwrap()),
            "calendar month, clamped"
        );
        assert_eq!(
            p("1y").expires_at(now),
            Some("2027-01-31T10:00:00Z".parse().unwrap())
        );
        let days = Expiry::parse(
            &ExpiryIn {
                days: Some(10),
                ..Default::default()
            },
            now,
        )
        .unwrap();
        assert_eq!(
            days.expires_at(now),
            Some("2026-02-10T10:00:00Z".parse().unwrap())
        );
        let past = ExpiryIn {
            date: Some(now - Duration::seconds(1)),
            ..Default::default()
        };
        assert_eq!(
            Expiry::parse(&past, now).unwrap_err().fields["expiry"].code,
            "expiry_in_past"
        );
        let both = ExpiryIn {
            preset: Some("1d".into()),
            days: Some(3),
            ..Default::default()
        };
        assert!(Expiry::parse(&both, now).is_err());
        assert!(
            Expiry::parse(
                &ExpiryIn {
                    days: Some(0),
                    ..Default::default()
                },
                now
            )
            .is_err()
        );
        assert!(
            Expiry::parse(
                &ExpiryIn {
                    preset: Some("2d".into()),
                    ..Default::default()
                },
                now
            )
            .is_err()
        );
    }
}
