//! The redemptions-per-day chart of the project overview: bar geometry for an inline SVG
//! (no JavaScript), with the same numbers kept for the text alternative.
use domain::subscriptions::DayCount;

/// Height of the plot area in SVG user units; bars scale to the busiest day.
pub const PLOT_HEIGHT: i64 = 100;
/// Horizontal room per day (bar plus gap).
const STEP: i64 = 10;
pub const BAR_WIDTH: i64 = 8;

pub struct Bar {
    /// `2026-11-21`
    pub day: String,
    pub count: i64,
    pub x: i64,
    pub y: i64,
    pub h: i64,
}

pub struct Chart {
    pub bars: Vec<Bar>,
    pub total: i64,
    pub width: i64,
    /// What a screen reader says for the picture.
    pub label: String,
}

impl Chart {
    pub fn new(days: &[DayCount]) -> Self {
        let max = days.iter().map(|d| d.count).max().unwrap_or(0);
        let total = days.iter().map(|d| d.count).sum();
        let bars = days
            .iter()
            .zip(0..)
            .map(|(d, i)| {
                // A day with any redemptions stays visible however busy the busiest was.
                let h = if d.count > 0 {
                    (d.count * PLOT_HEIGHT / max).max(2)
                } else {
                    0
                };
                Bar {
                    day: d.day.format("%Y-%m-%d").to_string(),
                    count: d.count,
                    x: i * STEP + (STEP - BAR_WIDTH) / 2,
                    y: PLOT_HEIGHT - h,
                    h,
                }
            })
            .collect::<Vec<_>>();
        let label = match (bars.first(), bars.last()) {
            (Some(first), Some(last)) => format!(
                "Redemptions per day from {} to {}: {total} in total, at most {max} on one day",
                first.day, last.day
            ),
            _ => "No days to show".to_string(),
        };
        Chart {
            width: STEP * bars.len() as i64,
            bars,
            total,
            label,
        }
    }

    /// The days with redemptions (the table lists only these, newest first).
    pub fn busy_days(&self) -> Vec<&Bar> {
        self.bars.iter().rev().filter(|b| b.count > 0).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn bars_scale_to_the_busiest_day_and_small_days_stay_visible() {
        let d = |n, count| DayCount {
            day: NaiveDate::from_ymd_opt(2026, 11, n).unwrap(),
            count,
        };
        let c = Chart::new(&[d(1, 0), d(2, 200), d(3, 1)]);
        assert_eq!(c.total, 201);
        assert_eq!(c.width, 30);
        assert_eq!(c.bars.iter().map(|b| b.h).collect::<Vec<_>>(), [0, 100, 2]);
        assert_eq!(c.bars[1].y, 0);
        assert_eq!(c.bars[2].x, 21);
        assert_eq!(c.busy_days().len(), 2);
        assert!(c.label.contains("2026-11-01 to 2026-11-03: 201 in total"));
    }
}
