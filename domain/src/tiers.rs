//! Creator plan tiers: what each plan gives per billing cycle (free codes, overage or a hard
//! cap) and how long its cycle is. A leaf beside `billing` (Stripe) and `quota` (counting).
use chrono::{DateTime, Months, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CreatorPlan {
    Free,
    StarterMonthly,
    StarterAnnual,
    GrowthMonthly,
    GrowthAnnual,
}

impl CreatorPlan {
    pub const ALL: [CreatorPlan; 5] = [
        CreatorPlan::Free,
        CreatorPlan::StarterMonthly,
        CreatorPlan::StarterAnnual,
        CreatorPlan::GrowthMonthly,
        CreatorPlan::GrowthAnnual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CreatorPlan::Free => "free",
            CreatorPlan::StarterMonthly => "starter_monthly",
            CreatorPlan::StarterAnnual => "starter_annual",
            CreatorPlan::GrowthMonthly => "growth_monthly",
            CreatorPlan::GrowthAnnual => "growth_annual",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                Error::field(
                    "plan",
                    "unknown_plan",
                    "expected one of free, starter_monthly, starter_annual, growth_monthly, growth_annual",
                )
            })
    }

    /// Free codes per billing cycle.
    pub fn free_quota(self) -> i64 {
        match self {
            CreatorPlan::Free => 5,
            CreatorPlan::StarterMonthly => 200,
            CreatorPlan::StarterAnnual => 2_600,
            CreatorPlan::GrowthMonthly => 500,
            CreatorPlan::GrowthAnnual => 6_500,
        }
    }

    /// The Free plan is a hard cap; paid plans bill codes past the free quota.
    pub fn allows_overage(self) -> bool {
        self != CreatorPlan::Free
    }

    /// Length of a cycle when Gatehouse (not Stripe) keeps the calendar.
    pub fn cycle_months(self) -> u32 {
        match self {
            CreatorPlan::StarterAnnual | CreatorPlan::GrowthAnnual => 12,
            _ => 1,
        }
    }

    pub fn cycle_end(self, start: DateTime<Utc>) -> DateTime<Utc> {
        start + Months::new(self.cycle_months())
    }
}
