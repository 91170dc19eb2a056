//! What a creator may write in a broadcast: Telegram's HTML subset (with a photo, its caption
//! length), a segment of this project, a button, a photo URL; every bad field named at once.
use std::collections::BTreeSet;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use entity::{code_batch, plan, project};

use super::{ButtonIn, MAX_WINDOW_DAYS, Segment, html};
use crate::{
    error::{FieldErrors, Result},
    tenancy::TenantCtx,
};

/// The most characters a photo's caption may show (Telegram's limit).
pub const MAX_CAPTION: usize = 1024;

/// Checks the text, the segment and the button; every bad field is named at once. The text's
/// fault carries `details.position`, the byte offset where it starts.
pub(super) async fn check(
    db: &impl ConnectionTrait,
    t: &TenantCtx,
    p: &project::Model,
    text: &str,
    segment: &Segment,
    button: Option<&ButtonIn>,
    photo_url: Option<&str>,
) -> Result<usize> {
    let mut errs = FieldErrors::default();
    let mut position = None;
    let shown = match html::check(text) {
        Ok(n) if photo_url.is_some() && n > MAX_CAPTION => {
            errs.add(
                "text",
                "caption_too_long",
                format!("with a photo the text is its caption: at most {MAX_CAPTION} characters shown ({n} now)"),
            );
            None
        }
        Ok(n) => Some(n),
        Err(f) => {
            errs.add(
                "text",
                "invalid_html",
                format!("{} (at byte {})", f.message, f.position),
            );
            position = Some(f.position);
            None
        }
    };
    match segment {
        Segment::EndingWithin { days } | Segment::EndedWithin { days }
            if !(1..=MAX_WINDOW_DAYS).contains(days) =>
        {
            errs.add(
                "segment",
                "out_of_range",
                format!("days must be between 1 and {MAX_WINDOW_DAYS}"),
            );
        }
        Segment::Active {
            plan_ids, batch_id, ..
        } if !plan_ids.is_empty() || batch_id.is_some() => {
            if let Some(b) = batch_id {
                let found = code_batch::Entity::find_by_id(*b)
                    .filter(code_batch::Column::TenantId.eq(t.tenant_id))
                    .filter(code_batch::Column::ProjectId.eq(p.id))
                    .one(db)
                    .await?;
                if found.is_none() {
                    errs.add(
                        "segment",
                        "unknown_batch",
                        "the batch must belong to this project",
                    );
                }
            }
            let wanted: BTreeSet<Uuid> = plan_ids.iter().copied().collect();
            let found: BTreeSet<Uuid> = plan::Entity::find()
                .filter(plan::Column::TenantId.eq(t.tenant_id))
                .filter(plan::Column::ProjectId.eq(p.id))
                .filter(plan::Column::Id.is_in(wanted.iter().copied()))
                .all(db)
                .await?
                .into_iter()
                .map(|pl| pl.id)
                .collect();
            if found != wanted {
                errs.add(
                    "segment",
                    "unknown_plan",
                    "every plan must belong to this project",
                );
            }
        }
        _ => {}
    }
    match button {
        Some(ButtonIn::Url { text, url }) => {
            let n = text.trim().chars().count();
            if n == 0 || n > 64 || text.chars().any(char::is_control) {
                errs.add(
                    "button",
                    "invalid_label",
                    "the label must be 1–64 characters, none of them control characters",
                );
            } else if !web_url(url) {
                errs.add("button", "invalid_url", "must be an http or https URL");
            }
        }
        Some(ButtonIn::Redeem) if !p.access_codes_enabled => errs.add(
            "button",
            "codes_disabled",
            "the project does not take access codes",
        ),
        _ => {}
    }
    if let Some(url) = photo_url
        && !web_url(url)
    {
        errs.add("photo_url", "invalid_url", "must be an http or https URL");
    }
    match (errs.finish(), position) {
        (Ok(()), _) => Ok(shown.unwrap_or(0)),
        (Err(e), Some(at)) => Err(e.with_details(serde_json::json!({"position": at}))),
        (Err(e), None) => Err(e),
    }
}

/// An http or https URL with a host and no control characters (a button's, a photo's).
fn web_url(url: &str) -> bool {
    !url.chars().any(char::is_control)
        && reqwest::Url::parse(url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}
