//! Taking back exactly the time one grant (a code's activation or a Stars payment) added.
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect, Set, sea_query::Expr,
};
use uuid::Uuid;

use entity::{activation, payment, plan, subscription};

use crate::{
    error::Result,
    events::{self, EventType},
};

use entity::subscription::SubscriptionStatus;

use super::grant::lock_subscriber;

/// What taking one activation's time back did to its subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Withdrawn {
    /// The subscription had already ended; nothing to take.
    Unchanged,
    /// Time remains: the subscription now ends at this time (`None`: lifetime).
    Shortened(Uuid, Option<DateTime<Utc>>),
    /// No granted time remains: the subscription is revoked (its user must leave the channels).
    Revoked(Uuid),
}

/// One grant of time to a subscription: a code's activation or a Stars payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GrantRef {
    Activation(Uuid),
    Payment(Uuid),
}

/// A grant and the span it added, as the replay of [`withdraw_grant`] reads it.
struct Span {
    r: GrantRef,
    at: DateTime<Utc>,
    added_from: Option<DateTime<Utc>>,
    added_until: Option<DateTime<Utc>>,
    /// What a payment bought (`Some(None)`: lifetime), kept whatever its span became in an
    /// earlier replay; `None` for an activation, whose length is its span.
    bought: Option<Option<Duration>>,
    access_code_id: Option<Uuid>,
}

/// Takes back exactly the time one activation added to its subscription, inside the
/// caller's transaction (the caller deletes the activation afterwards). See
/// [`withdraw_grant`].
pub(crate) async fn withdraw(
    txn: &impl ConnectionTrait,
    a: &activation::Model,
    now: DateTime<Utc>,
) -> Result<Withdrawn> {
    let Some(sid) = a.subscription_id else {
        return Ok(Withdrawn::Unchanged);
    };
    withdraw_grant(
        txn,
        sid,
        a.subscriber_id,
        GrantRef::Activation(a.id),
        a.added_from.is_some(),
        now,
    )
    .await
}

/// Takes back exactly the time a Stars payment added to its subscription (a refund), inside
/// the caller's transaction, which has already marked the payment refunded.
pub(crate) async fn withdraw_payment(
    txn: &impl ConnectionTrait,
    p: &payment::Model,
    now: DateTime<Utc>,
) -> Result<Withdrawn> {
    let Some(sid) = p.subscription_id else {
        return Ok(Withdrawn::Unchanged);
    };
    withdraw_grant(
        txn,
        sid,
        p.subscriber_id,
        GrantRef::Payment(p.id),
        true,
        now,
    )
    .await
}

/// Takes back exactly the time one grant (a code's activation or a Stars payment) added to
/// its subscription. The subscription's other grants — activations and paid payments alike —
/// are replayed in the order they were made as if this one had never happened: each starts
/// at the later of its own time and the previous one's end and keeps its own length, so
/// later grants shift earlier by the time taken away. When no granted time remains (no other
/// grant, or what is left already ended) the subscription is revoked. Grants from before
/// spans were recorded (`added_from` null) take the plan's duration off the end instead.
async fn withdraw_grant(
    txn: &impl ConnectionTrait,
    subscription_id: Uuid,
    subscriber_id: Uuid,
    removed: GrantRef,
    removed_known: bool,
    now: DateTime<Utc>,
) -> Result<Withdrawn> {
    lock_subscriber(txn, subscriber_id).await?;
    let Some(s) = subscription::Entity::find_by_id(subscription_id)
        .lock_exclusive()
        .one(txn)
        .await?
    else {
        return Ok(Withdrawn::Unchanged);
    };
    if s.status != SubscriptionStatus::Active {
        return Ok(Withdrawn::Unchanged);
    }
    let mut others: Vec<Span> = activation::Entity::find()
        .filter(activation::Column::SubscriptionId.eq(s.id))
        .all(txn)
        .await?
        .into_iter()
        .filter(|o| removed != GrantRef::Activation(o.id))
        .map(|o| Span {
            r: GrantRef::Activation(o.id),
            at: o.at,
            added_from: o.added_from,
            added_until: o.added_until,
            bought: None,
            access_code_id: Some(o.access_code_id),
        })
        .collect();
    others.extend(
        payment::Entity::find()
            .filter(payment::Column::SubscriptionId.eq(s.id))
            // A payment being refunded still grants its time until the refund is final.
            .filter(payment::Column::Status.is_in([
                payment::PaymentStatus::Paid,
                payment::PaymentStatus::Refunding,
            ]))
            .all(txn)
            .await?
            .into_iter()
            .filter(|o| removed != GrantRef::Payment(o.id))
            .map(|o| Span {
                r: GrantRef::Payment(o.id),
                // When it was granted (as an activation's `at`), not when Telegram charged.
                at: o.created_at,
                added_from: Some(o.added_from),
                added_until: o.added_until,
                bought: Some(o.bought_secs.map(Duration::seconds)),
                access_code_id: None,
            }),
    );
    let key = |g: &GrantRef| match g {
        GrantRef::Activation(id) | GrantRef::Payment(id) => *id,
    };
    others.sort_by_key(|o| (o.at, key(&o.r)));
    if others.is_empty() {
        return revoke_in(txn, &s, now).await;
    }
    let known = removed_known && others.iter().all(|o| o.added_from.is_some());
    let (starts_at, ends_at, access_code_id) = if known {
        // Replay what remains.
        let mut end: Option<Option<DateTime<Utc>>> = None;
        let mut starts_at = None;
        for o in &others {
            let length = o.bought.unwrap_or_else(|| {
                o.added_until
                    .zip(o.added_from)
                    .map(|(until, from)| until - from)
            });
            let from = match end {
                Some(Some(e)) => Ord::max(e, o.at),
                _ => o.at,
            };
            let until = match (end, length) {
                // After a lifetime grant everything is lifetime.
                (Some(None), _) | (_, None) => None,
                (_, Some(len)) => Some(from + len),
            };
            starts_at.get_or_insert(from);
            end = Some(until);
            if (o.added_from, o.added_until) != (Some(from), until) {
                match o.r {
                    GrantRef::Activation(id) => {
                        activation::Entity::update_many()
                            .col_expr(activation::Column::AddedFrom, Expr::value(from))
                            .col_expr(activation::Column::AddedUntil, Expr::value(until))
                            .filter(activation::Column::Id.eq(id))
                            .exec(txn)
                            .await?;
                    }
                    GrantRef::Payment(id) => {
                        payment::Entity::update_many()
                            .col_expr(payment::Column::AddedFrom, Expr::value(from))
                            .col_expr(payment::Column::AddedUntil, Expr::value(until))
                            .filter(payment::Column::Id.eq(id))
                            .exec(txn)
                            .await?;
                    }
                }
            }
        }
        (
            starts_at.unwrap_or(s.starts_at),
            end.flatten(),
            others[0].access_code_id,
        )
    } else {
        let plan = plan::Entity::find_by_id(s.plan_id).one(txn).await?;
        let length = plan
            .and_then(|p| p.duration_days)
            .map(|d| Duration::days(i64::from(d)));
        let ends_at = match (s.ends_at, length) {
            (Some(e), Some(len)) => Some(e - len),
            (e, _) => e,
        };
        (s.starts_at, ends_at, others[0].access_code_id)
    };
    if ends_at.is_some_and(|e| e <= now) {
        return revoke_in(txn, &s, now).await;
    }
    let changed = ends_at != s.ends_at;
    let mut am = s.into_active_model();
    am.starts_at = Set(starts_at);
    am.ends_at = Set(ends_at);
    am.access_code_id = Set(access_code_id);
    if changed {
        am.reminder_sent_at = Set(None);
    }
    am.updated_at = Set(now);
    let s = am.update(txn).await?;
    Ok(Withdrawn::Shortened(s.id, s.ends_at))
}

async fn revoke_in(
    txn: &impl ConnectionTrait,
    s: &subscription::Model,
    now: DateTime<Utc>,
) -> Result<Withdrawn> {
    subscription::Entity::update_many()
        .col_expr(
            subscription::Column::Status,
            Expr::value(SubscriptionStatus::Revoked),
        )
        .col_expr(subscription::Column::EndedAt, Expr::value(now))
        .col_expr(subscription::Column::UpdatedAt, Expr::value(now))
        .filter(subscription::Column::Id.eq(s.id))
        .filter(subscription::Column::Status.eq(SubscriptionStatus::Active))
        .exec(txn)
        .await?;
    events::emit_subscription(txn, s.tenant_id, EventType::SubscriptionRevoked, s.id, now).await?;
    Ok(Withdrawn::Revoked(s.id))
}
