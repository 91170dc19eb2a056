//! Telegram's HTML subset, checked before a broadcast is saved, so a creator learns of a typo
//! at once and not from a thousand failed sends: the tags Telegram formats (`b`, `strong`,
//! `i`, `em`, `u`, `ins`, `s`, `strike`, `del`, `a href`, `code`, `pre`, `tg-spoiler`,
//! `span class="tg-spoiler"`, `blockquote`), properly nested and closed; `<` and `&` only as
//! part of a tag or an entity (`&lt;` `&gt;` `&amp;` `&quot;` and numeric ones). A fault is
//! reported with the byte offset in the text where it starts.

/// The most characters a message may show (Telegram's limit, tags and entities aside).
pub const MAX_CHARS: usize = 4096;
/// The most bytes of markup accepted (formatting included).
pub const MAX_BYTES: usize = 32 * 1024;

/// What is wrong with a text, and where (a byte offset into it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtmlFault {
    pub position: usize,
    pub message: String,
}

fn fault(position: usize, message: impl Into<String>) -> HtmlFault {
    HtmlFault {
        position,
        message: message.into(),
    }
}

const TAGS: &[&str] = &[
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "tg-spoiler",
    "span",
    "blockquote",
];

/// Checks `text`; returns how many characters it shows.
pub fn check(text: &str) -> Result<usize, HtmlFault> {
    if text.len() > MAX_BYTES {
        return Err(fault(MAX_BYTES, format!("longer than {MAX_BYTES} bytes")));
    }
    // Line breaks and tabs are text; other control characters (NUL above all, which
    // PostgreSQL cannot store) are not, inside a tag or out.
    if let Some((i, _)) = text
        .char_indices()
        .find(|(_, c)| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(fault(i, "a control character"));
    }
    let b = text.as_bytes();
    let mut open: Vec<(&str, usize)> = Vec::new();
    let mut shown = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'<' => {
                let end = text[i..]
                    .find('>')
                    .map(|e| i + e)
                    .ok_or_else(|| fault(i, "a '<' that starts no tag (write &lt;)"))?;
                tag(&text[i + 1..end], i, &mut open)?;
                i = end + 1;
            }
            b'&' => {
                let end = text[i..]
                    .find(';')
                    .map(|e| i + e)
                    .filter(|e| e - i <= 10)
                    .ok_or_else(|| fault(i, "a '&' that starts no entity (write &amp;)"))?;
                entity(&text[i + 1..end], i)?;
                shown += 1;
                i = end + 1;
            }
            _ => {
                let c = text[i..].chars().next().expect("in bounds");
                shown += 1;
                i += c.len_utf8();
            }
        }
    }
    if let Some((name, at)) = open.pop() {
        return Err(fault(at, format!("<{name}> is never closed")));
    }
    if shown > MAX_CHARS {
        return Err(fault(
            text.len(),
            format!("shows {shown} characters; the most is {MAX_CHARS}"),
        ));
    }
    if text.trim().is_empty() || shown == 0 {
        return Err(fault(0, "the message is empty"));
    }
    Ok(shown)
}

fn entity(name: &str, at: usize) -> Result<(), HtmlFault> {
    let ok = match name.strip_prefix('#') {
        Some(num) => {
            let v = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => num.parse::<u32>().ok(),
            };
            v.and_then(char::from_u32).is_some()
        }
        None => matches!(name, "lt" | "gt" | "amp" | "quot"),
    };
    if ok {
        Ok(())
    } else {
        Err(fault(at, format!("unknown entity &{name}; (write &amp;)")))
    }
}

/// One tag's inside (between `<` and `>`), which starts at byte `at`.
fn tag<'a>(inner: &'a str, at: usize, open: &mut Vec<(&'a str, usize)>) -> Result<(), HtmlFault> {
    if let Some(name) = inner.strip_prefix('/') {
        let name = name.trim_end();
        return match open.pop() {
            Some((o, _)) if o.eq_ignore_ascii_case(name) => Ok(()),
            Some((o, _)) => Err(fault(at, format!("</{name}> closes <{o}>"))),
            None => Err(fault(at, format!("</{name}> closes nothing"))),
        };
    }
    let (name, attrs) = match inner.find(|c: char| c.is_ascii_whitespace()) {
        Some(n) => (&inner[..n], inner[n..].trim()),
        None => (inner, ""),
    };
    if !TAGS.iter().any(|t| t.eq_ignore_ascii_case(name)) {
        return Err(fault(at, format!("<{name}> is not a tag Telegram formats")));
    }
    let attrs = attributes(attrs).ok_or_else(|| fault(at, format!("<{name}>: bad attributes")))?;
    let lower = name.to_ascii_lowercase();
    let allowed = |a: &str, v: &str| match (lower.as_str(), a) {
        ("a", "href") => link_ok(v),
        ("span", "class") => v == "tg-spoiler",
        ("code", "class") => v.starts_with("language-"),
        ("blockquote", "expandable") => true,
        _ => false,
    };
    if let Some((a, _)) = attrs.iter().find(|(a, v)| !allowed(a, v)) {
        return Err(fault(at, format!("<{name}>: attribute {a} is not allowed")));
    }
    match lower.as_str() {
        "a" if !attrs.iter().any(|(a, _)| a == "href") => {
            return Err(fault(at, "<a> needs an href"));
        }
        "span" if attrs.is_empty() => {
            return Err(fault(at, "<span> needs class=\"tg-spoiler\""));
        }
        _ => {}
    }
    open.push((name, at));
    Ok(())
}

fn link_ok(v: &str) -> bool {
    let v = v.to_ascii_lowercase();
    ["http://", "https://", "tg://", "mailto:"]
        .iter()
        .any(|p| v.starts_with(p) && v.len() > p.len())
}

/// `name="value"` pairs (quotes single, double or none); a bare name has an empty value.
fn attributes(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = vec![];
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| c == '=' || c.is_ascii_whitespace())
            .unwrap_or(rest.len());
        let name = rest[..n].to_ascii_lowercase();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return None;
        }
        rest = rest[n..].trim_start();
        let value = if let Some(r) = rest.strip_prefix('=') {
            let r = r.trim_start();
            let (v, after) = match r.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let close = r[1..].find(q)? + 1;
                    (&r[1..close], &r[close + 1..])
                }
                Some(_) => {
                    let e = r.find(|c: char| c.is_ascii_whitespace()).unwrap_or(r.len());
                    (&r[..e], &r[e..])
                }
                None => return None,
            };
            rest = after.trim_start();
            v.to_string()
        } else {
            String::new()
        };
        out.push((name, value));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subset_passes() {
        for ok in [
            "Hello",
            "<b>bold</b> <strong>s</strong> <i>i</i><em>e</em><u>u</u><ins>n</ins>",
            "<s>a</s><strike>b</strike><del>c</del><tg-spoiler>x</tg-spoiler>",
            "<span class=\"tg-spoiler\">x</span> <a href=\"https://example.com/a?b=1&amp;c=2\">l</a>",
            "<pre><code class=\"language-rust\">fn main() {}</code></pre>",
            "<blockquote>q</blockquote> <blockquote expandable>q</blockquote>",
            "1 &lt; 2 &amp;&amp; 3 &gt; 2 &quot;x&quot; &#169; &#x1F600; > fine",
            "<b>nested <i>ok</i></b>",
        ] {
            assert!(check(ok).is_ok(), "{ok}: {:?}", check(ok));
        }
    }

    #[test]
    fn faults_name_their_byte() {
        let at = |t: &str| check(t).unwrap_err().position;
        assert_eq!(at("Hi <b>there"), 3);
        assert_eq!(at("Hi <b>x</i>"), 7);
        assert_eq!(at("ab <div>x</div>"), 3);
        assert_eq!(at("a < b"), 2);
        assert_eq!(at("Tom & Jerry"), 4);
        assert_eq!(at("x &nbsp; y"), 2);
        assert_eq!(at("é <a>x</a>"), 3);
        assert_eq!(at("<a href=\"javascript:alert(1)\">x</a>"), 0);
        assert_eq!(at("<span>x</span>"), 0);
        assert_eq!(at("<b onclick=\"x\">y</b>"), 0);
        assert_eq!(at("</b>"), 0);
        assert_eq!(at("  "), 0);
        assert_eq!(at("ab\u{0}c"), 2);
        assert_eq!(at("<a href=\"https://x.io/\u{0}\">x</a>"), 22);
        assert!(check("line one\nline two\tand a tab").is_ok());
    }

    #[test]
    fn length_counts_what_is_shown() {
        let long = "a".repeat(MAX_CHARS);
        assert_eq!(check(&format!("<b>{long}</b>")), Ok(MAX_CHARS));
        assert!(check(&format!("{long}b")).is_err());
        assert_eq!(check("&amp;"), Ok(1));
    }
}
