//! Listing, search and the pages the export streams.
use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CodeStatus {
    Unredeemed,
    Redeemed,
    Expired,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CodeFilter {
    pub plan_id: Option<Uuid>,
    pub status: Option<CodeStatus>,
    pub expires_after: Option<DateTime<Utc>>,
    pub expires_before: Option<DateTime<Utc>>,
    pub batch_id: Option<Uuid>,
    /// A code or its beginning, normalised like typed input.
    pub q: Option<String>,
    pub cursor: Option<Uuid>,
    pub limit: Option<u64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CodeOut {
    pub id: Uuid,
    pub code: String,
    pub plan_id: Uuid,
    pub batch_id: Option<Uuid>,
    pub status: CodeStatus,
    pub max_activations: i32,
    pub activation_count: i32,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// Who redeemed it, first activation first (empty while unredeemed).
    pub redeemed_by: Vec<Redeemer>,
}

/// One activation of a code: the subscriber and when.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Redeemer {
    pub subscriber_id: Uuid,
    pub telegram_user_id: i64,
    pub first_name: String,
    pub username: Option<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CodePage {
    pub items: Vec<CodeOut>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<Uuid>,
}

pub fn status_of(c: &access_code::Model, now: DateTime<Utc>) -> CodeStatus {
    if c.activation_count > 0 {
        CodeStatus::Redeemed
    } else if c.expires_at.is_some_and(|e| e <= now) {
        CodeStatus::Expired
    } else {
        CodeStatus::Unredeemed
    }
}

fn filtered(
    t: &TenantCtx,
    project_id: Uuid,
    f: &CodeFilter,
    now: DateTime<Utc>,
) -> sea_orm::Select<access_code::Entity> {
    use access_code::Column as C;
    let mut q = access_code::Entity::find()
        .filter(C::TenantId.eq(t.tenant_id))
        .filter(C::ProjectId.eq(project_id));
    if let Some(p) = f.plan_id {
        q = q.filter(C::PlanId.eq(p));
    }
    if let Some(b) = f.batch_id {
        q = q.filter(C::BatchId.eq(b));
    }
    if let Some(a) = f.expires_after {
        q = q.filter(C::ExpiresAt.gte(a));
    }
    if let Some(b) = f.expires_before {
        q = q.filter(C::ExpiresAt.lt(b));
    }
    match f.status {
        Some(CodeStatus::Redeemed) => q = q.filter(C::ActivationCount.gt(0)),
        Some(CodeStatus::Expired) => {
            q = q
                .filter(C::ActivationCount.eq(0))
                .filter(C::ExpiresAt.lte(now));
        }
        Some(CodeStatus::Unredeemed) => {
            q = q.filter(C::ActivationCount.eq(0)).filter(
                Condition::any()
                    .add(C::ExpiresAt.is_null())
                    .add(C::ExpiresAt.gt(now)),
            );
        }
        None => {}
    }
    if let Some(s) =
        f.q.as_deref()
            .map(normalize_partial)
            .filter(|s| !s.is_empty())
    {
        // A whole code is one equality; a beginning is a range over the `(project_id, code)`
        // index (`LIKE 'X%'` is a scan there: the database's collation is not "C").
        q = if s.len() >= CODE_LEN {
            q.filter(C::Code.eq(s))
        } else {
            match prefix_upper_bound(&s) {
                Some(end) => q.filter(C::Code.gte(s)).filter(C::Code.lt(end)),
                None => q.filter(C::Code.gte(s)),
            }
        };
    }
    q
}

/// The least string over the code alphabet that sorts after every code starting with
/// `prefix` (`"AB9"` → `"ABA"`, `"ABZ"` → `"AC"`); `None` when `prefix` is all `Z`s and
/// nothing sorts after its codes. The alphabet is in byte order, so the codes starting with
/// `prefix` are exactly those in `[prefix, bound)`.
pub fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<u8> = prefix.bytes().collect();
    while let Some(last) = chars.pop() {
        let i = ALPHABET.iter().position(|a| *a == last)?;
        if let Some(next) = ALPHABET.get(i + 1) {
            chars.push(*next);
            return Some(String::from_utf8(chars).expect("alphabet is ASCII"));
        }
    }
    None
}

pub const PAGE_MAX: u64 = 500;

/// Newest first; the cursor is the last id of the previous page (ids are time-ordered).
pub async fn list(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    f: CodeFilter,
) -> Result<CodePage> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    let limit = f.limit.unwrap_or(50).clamp(1, PAGE_MAX);
    let now = ctx.now();
    let mut q = filtered(t, p.id, &f, now).order_by_desc(access_code::Column::Id);
    if let Some(c) = f.cursor {
        q = q.filter(access_code::Column::Id.lt(c));
    }
    let mut rows = q.limit(limit + 1).all(&ctx.db).await?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok(CodePage {
        items: outs(ctx, t, rows, now).await?,
        next_cursor,
    })
}

/// One code of the project with who redeemed it (the bot's owner tools show it by id).
/// Another project's or tenant's code is not found.
pub async fn get(ctx: &AppCtx, t: &TenantCtx, project_id: Uuid, code_id: Uuid) -> Result<CodeOut> {
    let p = projects::find(&ctx.db, t, project_id).await?;
    let row = filtered(t, p.id, &CodeFilter::default(), ctx.now())
        .filter(access_code::Column::Id.eq(code_id))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("access_code"))?;
    outs(ctx, t, vec![row], ctx.now())
        .await?
        .pop()
        .ok_or_else(|| Error::not_found("access_code"))
}

async fn outs(
    ctx: &AppCtx,
    t: &TenantCtx,
    rows: Vec<access_code::Model>,
    now: DateTime<Utc>,
) -> Result<Vec<CodeOut>> {
    let mut redeemers = redeemers_of(
        ctx,
        t,
        rows.iter()
            .filter(|c| c.activation_count > 0)
            .map(|c| c.id)
            .collect(),
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|c| CodeOut {
            redeemed_by: redeemers.remove(&c.id).unwrap_or_default(),
            status: status_of(&c, now),
            id: c.id,
            code: c.code,
            plan_id: c.plan_id,
            batch_id: c.batch_id,
            max_activations: c.max_activations,
            activation_count: c.activation_count,
            expires_at: c.expires_at,
            created_at: c.created_at,
        })
        .collect())
}

/// The activations of `codes` with their subscribers, per code, oldest first.
async fn redeemers_of(
    ctx: &AppCtx,
    t: &TenantCtx,
    codes: Vec<Uuid>,
) -> Result<std::collections::HashMap<Uuid, Vec<Redeemer>>> {
    let mut out: std::collections::HashMap<Uuid, Vec<Redeemer>> = Default::default();
    if codes.is_empty() {
        return Ok(out);
    }
    let acts = activation::Entity::find()
        .filter(activation::Column::TenantId.eq(t.tenant_id))
        .filter(activation::Column::AccessCodeId.is_in(codes))
        .order_by_asc(activation::Column::At)
        .all(&ctx.db)
        .await?;
    let people: std::collections::HashMap<Uuid, subscriber::Model> = subscriber::Entity::find()
        .filter(subscriber::Column::TenantId.eq(t.tenant_id))
        .filter(subscriber::Column::Id.is_in(acts.iter().map(|a| a.subscriber_id)))
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    for a in acts {
        if let Some(s) = people.get(&a.subscriber_id) {
            out.entry(a.access_code_id).or_default().push(Redeemer {
                subscriber_id: s.id,
                telegram_user_id: s.telegram_user_id,
                first_name: s.first_name.clone(),
                username: s.username.clone(),
                at: a.at,
            });
        }
    }
    Ok(out)
}

/// Codes of the filtered view for export, oldest first, one page at a time (the edge
/// streams pages as CSV so a large export never sits in memory whole).
pub async fn export_page(
    ctx: &AppCtx,
    t: &TenantCtx,
    project_id: Uuid,
    f: &CodeFilter,
    after: Option<Uuid>,
    page: u64,
) -> Result<Vec<access_code::Model>> {
    let mut q = filtered(t, project_id, f, ctx.now()).order_by_asc(access_code::Column::Id);
    if let Some(a) = after {
        q = q.filter(access_code::Column::Id.gt(a));
    }
    Ok(q.limit(page).all(&ctx.db).await?)
}
