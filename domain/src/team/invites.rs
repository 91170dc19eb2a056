//! Invites: create, list, revoke, preview by token, accept.
use super::*;

/// Invites `email` as `admin` or `member`: a one-time link valid [`INVITE_TTL_DAYS`] days,
/// returned here only (the database keeps its SHA-256).
pub async fn create_invite(
    ctx: &AppCtx,
    t: &TenantCtx,
    input: InviteIn,
) -> Result<InviteCreatedOut> {
    t.may(Action::ManageTeam)?;
    let mut errs = FieldErrors::default();
    let email = errs.check(validate::email("email", &input.email));
    let role = errs.check(parse_role(
        "role",
        &input.role,
        &[Role::Admin, Role::Member],
    ));
    errs.finish()?;
    let (email, role) = (email.unwrap(), role.unwrap());
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    lock_tenant(&txn, t.tenant_id).await?;
    if let Some(u) = accounts::find_user_by_email(&txn, &email).await?
        && u.tenant_id == Some(t.tenant_id)
    {
        return Err(
            Error::conflict(ALREADY_MEMBER, "this person is a member already").with_field("email"),
        );
    }
    let pending = team_invite::Entity::find()
        .filter(team_invite::Column::TenantId.eq(t.tenant_id))
        .filter(team_invite::Column::Email.eq(&email))
        .filter(team_invite::Column::AcceptedAt.is_null())
        .filter(team_invite::Column::RevokedAt.is_null())
        .filter(team_invite::Column::ExpiresAt.gt(now))
        .count(&txn)
        .await?;
    if pending > 0 {
        return Err(Error::conflict(
            INVITE_PENDING,
            "this email has a pending invite; revoke it to send a new one",
        )
        .with_field("email"));
    }
    let token = random_token();
    let invite = team_invite::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(t.tenant_id),
        email: Set(email),
        role: Set(role.stored()),
        token_hash: Set(accounts::sha256_hex(&token)),
        invited_by: Set(t.actor.user_id),
        created_at: Set(now),
        expires_at: Set(now + Duration::days(INVITE_TTL_DAYS)),
        accepted_at: Set(None),
        accepted_by: Set(None),
        revoked_at: Set(None),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        audit::Entry::creator(t, "team.invite_created", "team_invite", invite.id).details(
            serde_json::json!({"email": invite.email, "role": role.as_str(), "expires_at": invite.expires_at}),
        ),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(InviteCreatedOut {
        url: format!("{}/invite/{token}", base_url(ctx)),
        token,
        invite: InviteOut::of(invite, now),
    })
}

/// Every invite of the workspace, newest first, with its status.
pub async fn list_invites(ctx: &AppCtx, t: &TenantCtx) -> Result<Vec<InviteOut>> {
    let now = ctx.now();
    Ok(team_invite::Entity::find()
        .filter(team_invite::Column::TenantId.eq(t.tenant_id))
        .order_by_desc(team_invite::Column::CreatedAt)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|i| InviteOut::of(i, now))
        .collect())
}

/// Revokes a pending invite; its link stops working at once. One that is no longer pending
/// is 409 `invite_not_pending`.
pub async fn revoke_invite(ctx: &AppCtx, t: &TenantCtx, invite_id: Uuid) -> Result<InviteOut> {
    t.may(Action::ManageTeam)?;
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    let i = team_invite::Entity::find_by_id(invite_id)
        .filter(team_invite::Column::TenantId.eq(t.tenant_id))
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("invite"))?;
    let changed = team_invite::Entity::update_many()
        .col_expr(team_invite::Column::RevokedAt, Expr::value(now))
        .filter(team_invite::Column::Id.eq(i.id))
        .filter(team_invite::Column::AcceptedAt.is_null())
        .filter(team_invite::Column::RevokedAt.is_null())
        .filter(team_invite::Column::ExpiresAt.gt(now))
        .exec(&txn)
        .await?
        .rows_affected;
    if changed == 0 {
        return Err(Error::conflict(
            INVITE_NOT_PENDING,
            format!(
                "this invite is {} and cannot be revoked",
                InviteStatus::of(&i, now)
            ),
        ));
    }
    audit::record(
        &txn,
        audit::Entry::creator(t, "team.invite_revoked", "team_invite", i.id)
            .details(serde_json::json!({"email": i.email})),
        now,
    )
    .await?;
    let i = team_invite::Entity::find_by_id(i.id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("invite"))?;
    txn.commit().await?;
    Ok(InviteOut::of(i, now))
}

async fn invite_by_token(ctx: &AppCtx, token: &str) -> Result<team_invite::Model> {
    let not_found = || {
        Error::new(
            crate::ErrorKind::NotFound,
            INVITE_NOT_FOUND,
            "this invite link is not valid; check that it was copied whole",
        )
    };
    if token.is_empty() || token.len() > 128 {
        return Err(not_found());
    }
    team_invite::Entity::find()
        .filter(team_invite::Column::TokenHash.eq(accounts::sha256_hex(token)))
        .one(&ctx.db)
        .await?
        .ok_or_else(not_found)
}

/// What an invite link offers, for the accept page. Refused as [`accept`] would refuse it.
pub async fn preview_invite(ctx: &AppCtx, token: &str) -> Result<InvitePreview> {
    let i = invite_by_token(ctx, token).await?;
    if let Some(e) = InviteStatus::of(&i, ctx.now()).refusal() {
        return Err(e);
    }
    let workspace = tenant::Entity::find_by_id(i.tenant_id)
        .one(&ctx.db)
        .await?
        .map(|t| t.name)
        .unwrap_or_default();
    Ok(InvitePreview {
        workspace,
        account_exists: accounts::find_user_by_email(&ctx.db, &i.email)
            .await?
            .is_some(),
        role: Role::of(i.role).unwrap_or(Role::Member),
        email: i.email,
    })
}

/// Accepts an invite with a password: when an account with the invite's email exists, the
/// password must be its own (counted by the login limits) and the account must belong to no
/// workspace; otherwise the account is created with this password. The invite is claimed by
/// one conditional update in the same transaction as the membership, so it works once even
/// when accepted twice at the same moment.
pub async fn accept(
    ctx: &AppCtx,
    token: &str,
    password: &str,
    client: std::net::IpAddr,
) -> Result<AcceptOut> {
    let i = invite_by_token(ctx, token).await?;
    if let Some(e) = InviteStatus::of(&i, ctx.now()).refusal() {
        return Err(e);
    }
    let role = Role::of(i.role).unwrap_or(Role::Member);
    let existing = accounts::find_user_by_email(&ctx.db, &i.email).await?;
    let (user_id, created, hash) = match existing {
        Some(_) => {
            let u = accounts::verify_credentials(ctx, &i.email, password, client).await?;
            if u.tenant_id == Some(i.tenant_id) {
                // Most likely this very invite, accepted a moment ago: say so if it was.
                let fresh = invite_by_token(ctx, token).await?;
                if let Some(e) = InviteStatus::of(&fresh, ctx.now()).refusal() {
                    return Err(e);
                }
                return Err(Error::conflict(
                    ALREADY_MEMBER,
                    "you are a member of this workspace already; log in instead",
                ));
            }
            if u.tenant_id.is_some() || Role::of(u.role).is_none() {
                return Err(Error::conflict(
                    OTHER_WORKSPACE,
                    "this account belongs to another workspace (an account has one); leave it first, or ask for an invite to another email",
                ));
            }
            (u.id, false, None)
        }
        None => {
            let password = validate::password("password", password)?;
            (
                Uuid::now_v7(),
                true,
                Some(accounts::hash_password(ctx, password).await?),
            )
        }
    };
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    let claimed = team_invite::Entity::update_many()
        .col_expr(team_invite::Column::AcceptedAt, Expr::value(now))
        .filter(team_invite::Column::Id.eq(i.id))
        .filter(team_invite::Column::AcceptedAt.is_null())
        .filter(team_invite::Column::RevokedAt.is_null())
        .filter(team_invite::Column::ExpiresAt.gt(now))
        .exec(&txn)
        .await?
        .rows_affected;
    if claimed == 0 {
        txn.rollback().await?;
        let fresh = team_invite::Entity::find_by_id(i.id)
            .one(&ctx.db)
            .await?
            .ok_or_else(|| Error::not_found("invite"))?;
        return Err(InviteStatus::of(&fresh, now)
            .refusal()
            .unwrap_or_else(|| Error::conflict(INVITE_USED, "this invite has been used already")));
    }
    match hash {
        Some(hash) => {
            user::ActiveModel {
                id: Set(user_id),
                tenant_id: Set(Some(i.tenant_id)),
                email: Set(i.email.clone()),
                password_hash: Set(hash),
                role: Set(role.stored()),
                created_at: Set(now),
            }
            .insert(&txn)
            .await
            .map_err(|e| match e.sql_err() {
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => Error::conflict(
                    "email_taken",
                    "an account with this email was just created; accept again to log in",
                ),
                _ => Error::from(e),
            })?;
        }
        None => {
            // Conditional: the account must still be without a workspace.
            let joined = user::Entity::update_many()
                .col_expr(user::Column::TenantId, Expr::value(i.tenant_id))
                .col_expr(user::Column::Role, Expr::value(role.stored()))
                .filter(user::Column::Id.eq(user_id))
                .filter(user::Column::TenantId.is_null())
                .exec(&txn)
                .await?
                .rows_affected;
            if joined == 0 {
                return Err(Error::conflict(
                    OTHER_WORKSPACE,
                    "this account joined another workspace meanwhile",
                ));
            }
        }
    }
    // Who accepted, now that the account row exists.
    team_invite::Entity::update_many()
        .col_expr(team_invite::Column::AcceptedBy, Expr::value(user_id))
        .filter(team_invite::Column::Id.eq(i.id))
        .exec(&txn)
        .await?;
    let member = TenantCtx {
        tenant_id: i.tenant_id,
        role,
        status: crate::tenancy::TenantStatus::Active,
        actor: Actor {
            user_id: Some(user_id),
            label: i.email.clone(),
        },
    };
    audit::record(
        &txn,
        audit::Entry::creator(&member, "team.member_joined", "user", user_id).details(
            serde_json::json!({
                "email": i.email, "role": role.as_str(), "invite_id": i.id,
                "account_created": created,
            }),
        ),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(AcceptOut {
        tenant_id: i.tenant_id,
        user_id,
        role,
        account_created: created,
        session: accounts::issue_session(ctx, user_id)?,
    })
}
