//! The codes CSV: columns exactly `Access Code, Plan Name, Join Link, Expires At, Price,
//! Currency, Started On, Ends On`; UTF-8 with a byte-order mark and CRLF line ends so
//! spreadsheets open it cleanly; timestamps ISO 8601 UTC; cells a spreadsheet would run as a
//! formula are neutralised with a leading apostrophe.
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use entity::{access_code, bot, plan, project};

use crate::{
    AppCtx,
    codes::{self, CodeFilter},
    error::Result,
    projects,
    tenancy::TenantCtx,
};

pub const HEADER: [&str; 8] = [
    "Access Code",
    "Plan Name",
    "Join Link",
    "Expires At",
    "Price",
    "Currency",
    "Started On",
    "Ends On",
];

pub const BOM: &str = "\u{feff}";

/// `https://t.me/<bot>?start=c_<CODE>` (start parameters allow only `A-Za-z0-9_-`).
pub fn join_link(bot_username: &str, code: &str) -> String {
    format!("https://t.me/{bot_username}?start=c_{code}")
}

pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Prefixes cells that start like a formula (`= + - @`, tab, CR) with an apostrophe.
pub fn neutralise(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_string(),
    }
}

/// One CSV row for a code. Price is the plan's face value, whatever the project's
/// `codes_priced` says: that setting decides what an order counts as revenue, not what the
/// code is worth to the person holding it.
pub fn row(c: &access_code::Model, cx: &CsvContext) -> [String; 8] {
    let plan = cx.plans.get(&c.plan_id);
    let (name, price_minor, currency, days) = match plan {
        Some(p) => (
            p.name.as_str(),
            p.price_minor,
            p.currency.as_str(),
            p.duration_days,
        ),
        None => ("", 0, "", None),
    };
    let started = c.created_at;
    [
        c.code.clone(),
        neutralise(name),
        cx.bot_username
            .as_deref()
            .map(|b| join_link(b, &c.code))
            .unwrap_or_default(),
        c.expires_at.map(timestamp).unwrap_or_default(),
        crate::money::format_minor(price_minor, currency),
        currency.to_string(),
        timestamp(started),
        days.map(|d| timestamp(started + Duration::days(i64::from(d))))
            .unwrap_or_default(),
    ]
}

fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

/// The BOM and header line.
pub fn header_bytes() -> Vec<u8> {
    let mut w = writer();
    w.write_record(HEADER).expect("writing to memory");
    let mut out = BOM.as_bytes().to_vec();
    out.extend(w.into_inner().expect("writing to memory"));
    out
}

/// Rows for a page of codes.
pub fn rows_bytes(codes: &[access_code::Model], cx: &CsvContext) -> Vec<u8> {
    let mut w = writer();
    for c in codes {
        w.write_record(row(c, cx)).expect("writing to memory");
    }
    w.into_inner().expect("writing to memory")
}

/// What the CSV rows need besides the codes: plan names, prices, the bot's username.
pub struct CsvContext {
    pub bot_username: Option<String>,
    pub plans: std::collections::HashMap<Uuid, plan::Model>,
}

pub async fn csv_context(ctx: &AppCtx, t: &TenantCtx, project_id: Uuid) -> Result<CsvContext> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    csv_context_for(ctx, &p).await
}

/// The CSV context of a project already found (the delivery job has no tenant context).
pub async fn csv_context_for(ctx: &AppCtx, p: &project::Model) -> Result<CsvContext> {
    let bot_username = bot::Entity::find()
        .filter(bot::Column::ProjectId.eq(p.id))
        .one(&ctx.db)
        .await?
        .map(|b| b.username);
    let plans = plan::Entity::find()
        .filter(plan::Column::ProjectId.eq(p.id))
        .filter(plan::Column::TenantId.eq(p.tenant_id))
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    Ok(CsvContext {
        bot_username,
        plans,
    })
}

/// Codes fetched per page while streaming the CSV.
const STREAM_PAGE: u64 = 5_000;
/// Pages formatted ahead of the reader: the next page is read from the database while the
/// last one is being sent, and memory stays bounded (about this many pages of CSV).
const PAGES_AHEAD: usize = 2;

/// The filtered codes of a project as a CSV byte stream: the BOM and header, then the rows
/// page by page, so memory stays flat however many codes there are. A task reads and formats
/// the pages [`PAGES_AHEAD`] ahead of the reader (the database and the network overlap); it
/// stops when the reader goes away. The project is checked (and the CSV context read) before
/// the stream is returned, so a missing or foreign project is a `NotFound` error before any
/// byte; a failure mid-stream is logged and ends the stream with an I/O error.
pub async fn csv_stream(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    f: CodeFilter,
) -> Result<impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static + use<>> {
    use futures::StreamExt as _;

    let cx = csv_context(ctx, t, project_id).await?;
    let header = futures::stream::once(async { Ok(bytes::Bytes::from(header_bytes())) });
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(PAGES_AHEAD);
    let (ctx, t) = (ctx.clone(), t.clone());
    tokio::spawn(async move {
        let mut after = None::<Uuid>;
        loop {
            match codes::export_page(&ctx, &t, project_id, &f, after, STREAM_PAGE).await {
                Ok(rows) if rows.is_empty() => return,
                Ok(rows) => {
                    // A short page is the last one.
                    let last = (rows.len() as u64) < STREAM_PAGE;
                    after = rows.last().map(|r| r.id);
                    let chunk = bytes::Bytes::from(rows_bytes(&rows, &cx));
                    if tx.send(Ok(chunk)).await.is_err() || last {
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "export failed mid-stream");
                    let _ = tx.send(Err(std::io::Error::other("export failed"))).await;
                    return;
                }
            }
        }
    });
    let pages = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    Ok(header.chain(pages))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise("+1"), "'+1");
        assert_eq!(neutralise("@SUM"), "'@SUM");
        assert_eq!(neutralise("Gold"), "Gold");
    }
}
