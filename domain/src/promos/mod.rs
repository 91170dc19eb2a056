//! Promo codes: a creator's discount (percent or Stars off) on plans sold for Stars, with a
//! validity window, a total cap, once per user, new customers only, and — for 30-day Stars
//! subscriptions — first payment only or every renewal. The code is matched normalised like
//! an access code. The price rule ([`discounted`]) lives here once: never below 1 ⭐.
//!
//! By use case: `manage` (create, list with uses and money, deactivate) and `apply` (a
//! subscriber using one in the bot: finding it, its prices, the cap held at pre-checkout and
//! counted on payment).
mod apply;
mod manage;

pub use apply::*;
pub use manage::*;

use crate::code_text;

/// The fewest Stars anything is sold for, whatever the promo.
pub const MIN_STARS: u32 = 1;
/// Length of a generated promo code.
pub const GENERATED_LEN: usize = 8;
/// A chosen code: 4–32 characters after normalisation.
pub const CODE_MIN: usize = 4;
pub const CODE_MAX: usize = 32;

/// The error codes of a promo code that cannot be made.
pub const PROMO_CODE_TAKEN: &str = "promo_code_taken";

/// What a discount takes off a price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    Percent(u32),
    Stars(u32),
}

/// The price after a discount: percent rounds the discount down (the subscriber never pays
/// less than the creator said), and nothing is sold below [`MIN_STARS`].
pub fn discounted(list: u32, d: Discount) -> u32 {
    let off = match d {
        Discount::Percent(p) => list.saturating_mul(p.min(100)) / 100,
        Discount::Stars(s) => s,
    };
    list.saturating_sub(off).max(MIN_STARS)
}

/// The key a typed promo code is matched by (the access codes' normalisation, any length).
pub fn key(input: &str) -> String {
    code_text::normalize_partial(input)
}

/// A fresh promo code from the access-code alphabet.
pub fn generate() -> String {
    code_text::new_code()[..GENERATED_LEN].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_below_one_star() {
        assert_eq!(discounted(100, Discount::Percent(25)), 75);
        assert_eq!(discounted(3, Discount::Percent(99)), 1);
        assert_eq!(discounted(10, Discount::Stars(10)), 1);
        assert_eq!(discounted(10, Discount::Stars(500)), 1);
        // 25 % of 7 is 1.75: 1 off, so 6.
        assert_eq!(discounted(7, Discount::Percent(25)), 6);
    }

    #[test]
    fn keys_are_normalised_like_access_codes() {
        assert_eq!(key("spring-25"), key("SPRING25"));
        assert_eq!(key(" Spr1ng 25 "), key("SPRING25"));
        assert_eq!(generate().len(), GENERATED_LEN);
    }
}
