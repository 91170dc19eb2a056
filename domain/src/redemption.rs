//! Redeeming an access code through a project's bot: what was typed (or a `c_<CODE>` deep
//! link) is normalised, failed attempts are limited per user and bot, and activation is one
//! transaction — a conditional update keeps the activation count within max activations —
//! that grants the plan through `subscriptions` (the one rule for new and extended time,
//! serialised per subscriber) and records on the activation the time it added.
//! The project's linked owners are told of each activation.
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, FromQueryResult,
    IdenStatic, Iterable, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
    sea_query::{Alias, Expr, ExprTrait, Func, JoinType, Query},
};
use uuid::Uuid;

use entity::{
    access_code, activation, plan, project, redeem_failure, subscriber, tenant,
    tenant::TenantStatus,
};

use crate::{
    AppCtx, bots, codes,
    error::{Error, ErrorKind, Result},
    events, facts, i18n, limits,
    subscriptions::{self, AccessLink, SubscriptionSource, TgUser},
    telegram::{self, BotHandle},
};

/// The typed text is no code of this project.
pub const CODE_UNKNOWN: &str = "code_unknown";
/// The code is past its expiry.
pub const CODE_EXPIRED: &str = "code_expired";
/// The code has no activations left.
pub const CODE_USED_UP: &str = "code_used_up";
/// This user redeemed this code before.
pub const CODE_ALREADY_REDEEMED: &str = "code_already_redeemed";
/// The code's plan is switched off.
pub const PLAN_INACTIVE: &str = "plan_inactive";
/// The project does not accept access codes.
pub const CODES_DISABLED: &str = "codes_disabled";
/// Too many failed attempts; `retry_after` says when to try again.
pub const TOO_MANY_ATTEMPTS: &str = "too_many_attempts";

/// Failed code attempts allowed per user per bot within [`FAILURE_WINDOW_MINUTES`].
pub const MAX_FAILURES: u64 = 5;
pub const FAILURE_WINDOW_MINUTES: i64 = 15;

#[derive(Debug, Clone)]
pub struct Redeemed {
    pub plan_name: String,
    pub ends_at: Option<DateTime<Utc>>,
    /// True when an active subscription to the same plan was extended.
    pub extended: bool,
    pub links: Vec<AccessLink>,
}

fn failure(code: &'static str, message: &str) -> Error {
    Error::new(ErrorKind::Conflict, code, message)
}

/// The failed attempts that count: this user's, through this bot, within the window.
fn failures_in_window(ctx: &AppCtx, bot_id: Uuid, user: i64) -> Condition {
    let since = ctx.now() - Duration::minutes(FAILURE_WINDOW_MINUTES);
    Condition::all()
        .add(redeem_failure::Column::BotId.eq(bot_id))
        .add(redeem_failure::Column::TelegramUserId.eq(user))
        .add(redeem_failure::Column::At.gt(since))
}

/// What every redemption reads first, in one round trip: how many failed attempts this user
/// made through this bot within the window, and the project's code `code` (None when there is
/// none, or when nothing was typed that could be a code).
async fn failures_and_code(
    ctx: &AppCtx,
    h: &BotHandle,
    user: i64,
    code: Option<&str>,
) -> Result<(u64, Option<access_code::Model>)> {
    let failures = Query::select()
        .expr_as(
            Func::count(Expr::col(redeem_failure::Column::Id)),
            Alias::new("n"),
        )
        .from(redeem_failure::Entity)
        .cond_where(failures_in_window(ctx, h.id, user))
        .to_owned();
    let mut q = Query::select();
    q.expr_as(
        Expr::col((Alias::new("f"), Alias::new("n"))),
        Alias::new("failures"),
    )
    .from_subquery(failures, Alias::new("f"))
    .join(
        JoinType::LeftJoin,
        access_code::Entity,
        Condition::all()
            .add(access_code::Column::ProjectId.eq(h.project_id))
            // No code is empty: text that is no code finds no row.
            .add(access_code::Column::Code.eq(code.unwrap_or_default())),
    );
    for col in access_code::Column::iter() {
        q.expr_as(
            Expr::col((access_code::Entity, col)),
            Alias::new(format!("c_{}", col.as_str())),
        );
    }
    let stmt = ctx.db.get_database_backend().build(&q);
    let row = ctx
        .db
        .query_one_raw(stmt)
        .await?
        .ok_or_else(|| Error::internal(anyhow::anyhow!("the failure count returned no row")))?;
    let n: i64 = row.try_get("", "failures")?;
    Ok((
        n as u64,
        access_code::Model::from_query_result_optional(&row, "c_")?,
    ))
}

/// The user's failed attempts through this bot within the window, oldest first (read only
/// when they are too many, to say when the next attempt is allowed).
async fn recent_failures(ctx: &AppCtx, bot_id: Uuid, user: i64) -> Result<Vec<DateTime<Utc>>> {
    Ok(redeem_failure::Entity::find()
        .select_only()
        .column(redeem_failure::Column::At)
        .filter(failures_in_window(ctx, bot_id, user))
        .order_by_asc(redeem_failure::Column::At)
        .into_tuple()
        .all(&ctx.db)
        .await?)
}

async fn record_failure(ctx: &AppCtx, bot_id: Uuid, user: i64) -> Result<()> {
    redeem_failure::ActiveModel {
        id: Set(Uuid::now_v7()),
        bot_id: Set(bot_id),
        telegram_user_id: Set(user),
        at: Set(ctx.now()),
    }
    .insert(&ctx.db)
    .await?;
    // Failures older than the window count for nothing: prune them on write (indexed on `at`),
    // by a clock never ahead of the wall clock, so a process whose clock runs ahead (or a
    // test's manual clock) cannot delete failures other processes still count.
    let cutoff = Ord::min(ctx.now(), Utc::now()) - Duration::minutes(FAILURE_WINDOW_MINUTES);
    redeem_failure::Entity::delete_many()
        .filter(redeem_failure::Column::At.lt(cutoff))
        .exec(&ctx.db)
        .await?;
    Ok(())
}

/// Redeems what a user typed (or a `c_<CODE>` deep link) through a project's bot.
/// Failures have distinct codes — `code_unknown`, `code_expired`, `code_used_up`,
/// `code_already_redeemed`, `plan_inactive`, `codes_disabled` — and count towards the
/// per-user limit (`too_many_attempts`, with `retry_after`).
pub async fn redeem(ctx: &AppCtx, h: &BotHandle, user: &TgUser, typed: &str) -> Result<Redeemed> {
    let code = codes::normalize(typed);
    let (failures, found) = failures_and_code(ctx, h, user.id, code.as_deref()).await?;
    if failures >= MAX_FAILURES {
        let oldest = recent_failures(ctx, h.id, user.id)
            .await?
            .first()
            .copied()
            .unwrap_or_else(|| ctx.now());
        let retry = (oldest + Duration::minutes(FAILURE_WINDOW_MINUTES) - ctx.now()).num_seconds();
        return Err(Error::rate_limited(
            TOO_MANY_ATTEMPTS,
            "too many failed attempts",
            Ord::max(retry, 1) as u64,
        ));
    }
    // The count above was read before any attempt in flight wrote its failure: fifty wrong
    // codes sent at once would all pass it. A guess (no such code) first takes a slot
    // atomically, so at most MAX_FAILURES guesses are judged per window however many arrive
    // at once; a code that exists is judged as before (twenty good codes at once all redeem).
    if found.is_none() {
        let window = Duration::minutes(FAILURE_WINDOW_MINUTES);
        let key = format!("redeem-guess:{}:{}", h.id, user.id);
        if let Err(retry) =
            limits::take(&ctx.db, &key, MAX_FAILURES as u32, window, ctx.now()).await?
        {
            return Err(Error::rate_limited(
                TOO_MANY_ATTEMPTS,
                "too many attempts at once",
                retry,
            ));
        }
    }
    match activate(ctx, h, user, code, found).await {
        // A late code is not a guess: it existed, so it does not count towards the limit.
        Err(e) if e.kind == ErrorKind::Conflict && e.code != CODE_EXPIRED => {
            record_failure(ctx, h.id, user.id).await?;
            Err(e)
        }
        other => other,
    }
}

async fn activate(
    ctx: &AppCtx,
    h: &BotHandle,
    user: &TgUser,
    code: Option<String>,
    found: Option<access_code::Model>,
) -> Result<Redeemed> {
    let unknown = || failure(CODE_UNKNOWN, "no such code");
    let code = code.ok_or_else(unknown)?;
    let project = facts::project(ctx, h.project_id).await?;
    if !project.access_codes_enabled {
        return Err(failure(
            CODES_DISABLED,
            "access codes are turned off for this project",
        ));
    }
    let c = found.ok_or_else(unknown)?;
    let now = ctx.now();
    let pl = facts::plan(ctx, c.plan_id).await?;
    // "Already redeemed" is told before any other refusal. It is asked only when the code is
    // refused anyway: on the way to a grant, the activation's unique (code, subscriber) pair
    // answers it inside the transaction, one round trip fewer for every redemption.
    let refused = if c.expires_at.is_some_and(|e| e <= now) {
        Some(failure(CODE_EXPIRED, "this code has expired"))
    } else if c.activation_count >= c.max_activations {
        Some(failure(CODE_USED_UP, "this code has been used up"))
    } else if !pl.active {
        Some(failure(
            PLAN_INACTIVE,
            "the plan of this code is no longer offered",
        ))
    } else {
        None
    };
    if let Some(e) = refused {
        return Err(already_redeemed(ctx, c.id, h.project_id, user.id)
            .await?
            .unwrap_or(e));
    }

    let txn = ctx.db.begin().await?;
    // The conditional update is the guard: concurrent redemptions serialise on the row and
    // only those that still find room succeed.
    let took = access_code::Entity::update_many()
        .col_expr(
            access_code::Column::ActivationCount,
            Expr::col(access_code::Column::ActivationCount).add(1),
        )
        .filter(access_code::Column::Id.eq(c.id))
        .filter(
            Expr::col(access_code::Column::ActivationCount)
                .lt(Expr::col(access_code::Column::MaxActivations)),
        )
        .filter(
            sea_orm::Condition::any()
                .add(access_code::Column::ExpiresAt.is_null())
                .add(access_code::Column::ExpiresAt.gt(now)),
        )
        // What allows a redemption is checked here against the rows, not only against this
        // process's cache (another process may have changed them and its announcement may
        // be lost): the plan is offered, the project takes codes, the tenant is active.
        .filter(still_allowed(c.plan_id, h.project_id, h.tenant_id))
        .exec(&txn)
        .await?
        .rows_affected;
    if took == 0 {
        txn.rollback().await?;
        let refused = refusal_now(ctx, &c, h).await?;
        return Err(already_redeemed(ctx, c.id, h.project_id, user.id)
            .await?
            .unwrap_or(refused));
    }
    // The subscriber is made (first contact) or refreshed inside the transaction: the upsert
    // holds the subscriber's row lock until the commit, which is the lock `grant` would take,
    // so grants for one subscriber still run one after the other.
    let sub = subscriptions::subscriber_for(&txn, h, user, now).await?;
    let price_minor = if project.codes_priced {
        pl.price_minor
    } else {
        0
    };
    let granted = subscriptions::grant_locked(
        &txn,
        subscriptions::Grant {
            tenant_id: h.tenant_id,
            project_id: h.project_id,
            subscriber_id: sub.id,
            plan: &pl,
            source: SubscriptionSource::AccessCode,
            access_code_id: Some(c.id),
            price_minor,
        },
        now,
    )
    .await?;
    let subscription = granted.subscription;
    // The activation, with what it added (so a rollback of its code takes exactly that
    // away), in one insert after the grant. Its unique (code, subscriber) pair is the guard
    // against one user redeeming a code twice at once: the loser's whole transaction —
    // count, grant and all — is rolled back.
    let inserted = activation::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(h.tenant_id),
        access_code_id: Set(c.id),
        subscriber_id: Set(sub.id),
        subscription_id: Set(Some(subscription.id)),
        at: Set(now),
        added_from: Set(Some(granted.added_from)),
        added_until: Set(granted.added_until),
        price_minor: Set(Some(price_minor)),
    }
    .insert(&txn)
    .await;
    match inserted {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            txn.rollback().await?;
            return Err(failure(
                CODE_ALREADY_REDEEMED,
                "you have already redeemed this code",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    events::emit(
        &txn,
        h.tenant_id,
        events::Event::code_redeemed(&c, &sub, subscription.id),
        now,
    )
    .await?;
    txn.commit().await?;

    notify_owners(ctx, h, user, &code, &pl.name).await;
    let links = subscriptions::access_links(ctx, h, &subscription).await?;
    Ok(Redeemed {
        plan_name: pl.name.clone(),
        ends_at: subscription.ends_at,
        extended: granted.extended,
        links,
    })
}

/// The code's plan is active, its project accepts codes and its tenant is active — as the
/// database has them at the moment of the conditional update.
fn still_allowed(plan_id: Uuid, project_id: Uuid, tenant_id: Uuid) -> Condition {
    let active_tenant = Query::select()
        .column(tenant::Column::Id)
        .from(tenant::Entity)
        .and_where(tenant::Column::Id.eq(tenant_id))
        .and_where(tenant::Column::Status.eq(TenantStatus::Active))
        .to_owned();
    let open_project = Query::select()
        .column(project::Column::Id)
        .from(project::Entity)
        .and_where(project::Column::Id.eq(project_id))
        .and_where(project::Column::AccessCodesEnabled.eq(true))
        .and_where(project::Column::TenantId.in_subquery(active_tenant))
        .to_owned();
    let offered_plan = Query::select()
        .column(plan::Column::Id)
        .from(plan::Entity)
        .and_where(plan::Column::Id.eq(plan_id))
        .and_where(plan::Column::Active.eq(true))
        .and_where(plan::Column::ProjectId.in_subquery(open_project))
        .to_owned();
    Condition::all().add(access_code::Column::PlanId.in_subquery(offered_plan))
}

/// Why a code the conditional update refused is refused, read from the database (the
/// cache said yes and was wrong, or the code ran out meanwhile). Stale cached facts are
/// dropped, so this process's next update reads them afresh.
async fn refusal_now(ctx: &AppCtx, c: &access_code::Model, h: &BotHandle) -> Result<Error> {
    let tenant_active = tenant::Entity::find_by_id(h.tenant_id)
        .one(&ctx.db)
        .await?
        .is_some_and(|t| t.status == TenantStatus::Active);
    let codes_open = project::Entity::find_by_id(h.project_id)
        .one(&ctx.db)
        .await?
        .is_some_and(|p| p.access_codes_enabled);
    let offered = plan::Entity::find_by_id(c.plan_id)
        .one(&ctx.db)
        .await?
        .is_some_and(|p| p.active);
    for (stale, id) in [
        (!tenant_active, h.tenant_id),
        (!codes_open, h.project_id),
        (!offered, c.plan_id),
    ] {
        if stale {
            facts::evict(id);
        }
    }
    Ok(if !tenant_active {
        Error::forbidden(
            crate::error::TENANT_SUSPENDED,
            "this bot's workspace is paused",
        )
    } else if !codes_open {
        failure(
            CODES_DISABLED,
            "access codes are turned off for this project",
        )
    } else if !offered {
        failure(PLAN_INACTIVE, "the plan of this code is no longer offered")
    } else {
        failure(CODE_USED_UP, "this code has been used up")
    })
}

/// `code_already_redeemed` when the project's subscriber for this Telegram user holds an
/// activation of this code (a user who never became a subscriber holds none).
async fn already_redeemed(
    ctx: &AppCtx,
    code_id: Uuid,
    project_id: Uuid,
    telegram_user_id: i64,
) -> Result<Option<Error>> {
    let n = activation::Entity::find()
        .filter(activation::Column::AccessCodeId.eq(code_id))
        .filter(
            activation::Column::SubscriberId.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(subscriber::Column::Id)
                    .from(subscriber::Entity)
                    .and_where(subscriber::Column::ProjectId.eq(project_id))
                    .and_where(subscriber::Column::TelegramUserId.eq(telegram_user_id))
                    .to_owned(),
            ),
        )
        .count(&ctx.db)
        .await?;
    Ok((n > 0).then(|| failure(CODE_ALREADY_REDEEMED, "you have already redeemed this code")))
}

/// Tells the project's linked owners who redeemed which code for which plan. A failed
/// notification never undoes the redemption.
async fn notify_owners(ctx: &AppCtx, h: &BotHandle, user: &TgUser, code: &str, plan_name: &str) {
    let who = match &user.username {
        Some(u) => format!("@{u} ({})", user.first_name),
        None => format!("{} (id {})", user.first_name, user.id),
    };
    match bots::owner_chat_ids(ctx, h.project_id).await {
        Ok(chats) => {
            for chat in chats {
                // An owner's private chat id is their user id: their own language.
                let lang = i18n::stored(ctx, h.project_id, chat)
                    .await
                    .unwrap_or(i18n::Lang::En);
                let text = i18n::tr(
                    lang,
                    "owner-new-activation",
                    &[
                        ("who", who.as_str().into()),
                        ("code", code.into()),
                        ("plan", plan_name.into()),
                    ],
                );
                if let Err(e) = telegram::send_message(ctx, h.id, chat, &text, None).await {
                    tracing::warn!(error = %e, "owner notification failed");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "owner chats unavailable"),
    }
}
