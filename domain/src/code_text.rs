//! The spelling of an access code: its alphabet, a fresh code, and the normalisation of what
//! a person typed (promo codes are matched the same way). A leaf module; `codes` re-exports it.
use rand::Rng;

/// Crockford base32: no I, L, O, U.
pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
pub const CODE_LEN: usize = 12;
pub const MAX_CUSTOM_DAYS: i64 = 36_500;

/// A fresh code from the thread's CSPRNG (ChaCha, seeded from the OS).
pub fn new_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN)
        .map(|_| ALPHABET[rng.random_range(0..32)] as char)
        .collect()
}

/// Normalises what a person typed: case, spaces and dashes ignored, O→0, I/L→1.
/// `None` when it cannot be a code.
pub fn normalize(input: &str) -> Option<String> {
    let s = normalize_partial(input);
    (s.len() == CODE_LEN).then_some(s)
}

/// Normalises a (possibly partial) code for search; drops characters outside the alphabet.
pub fn normalize_partial(input: &str) -> String {
    input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .filter(|c| ALPHABET.contains(&(*c as u8)))
        .collect()
}
