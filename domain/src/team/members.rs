//! Members: listing, changing a role, removing a member, transferring ownership.
use super::*;

/// The workspace's members, owners first, then by when they joined.
pub async fn members(ctx: &AppCtx, t: &TenantCtx) -> Result<Vec<MemberOut>> {
    let mut all: Vec<MemberOut> = user::Entity::find()
        .filter(user::Column::TenantId.eq(t.tenant_id))
        .order_by_asc(user::Column::CreatedAt)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(MemberOut::of)
        .collect();
    all.sort_by_key(|m| match m.role {
        Role::Owner => 0,
        Role::Admin => 1,
        Role::Member => 2,
    });
    Ok(all)
}

/// Sets a member's role (`owner`, `admin` or `member`). Demoting the last owner is 409
/// `last_owner`. A member demoted to `member` loses the API keys they created (keys act as
/// admin, which a member may not); one who may no longer invite (not an owner) loses the
/// pending invites they made. Setting the role they have changes nothing.
pub async fn change_role(
    ctx: &AppCtx,
    t: &TenantCtx,
    user_id: Uuid,
    role: &str,
) -> Result<MemberOut> {
    t.may(Action::ManageTeam)?;
    let role = parse_role("role", role, &[Role::Owner, Role::Admin, Role::Member])?;
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    lock_tenant(&txn, t.tenant_id).await?;
    let u = find_member(&txn, t, user_id).await?;
    let from = Role::of(u.role).unwrap_or(Role::Member);
    if from == role {
        return Ok(MemberOut::of(u));
    }
    if from == Role::Owner && owners(&txn, t.tenant_id).await? <= 1 {
        return Err(last_owner());
    }
    let mut am: user::ActiveModel = u.clone().into();
    am.role = Set(role.stored());
    let u = am.update(&txn).await?;
    let keys = if role.allows(Action::ManageApiKeys) {
        0
    } else {
        revoke_keys_of(&txn, t.tenant_id, u.id, now).await?
    };
    // Their pending invites would still let people in on their say-so.
    let invites = if role.allows(Action::ManageTeam) {
        0
    } else {
        revoke_invites_of(&txn, t.tenant_id, u.id, now).await?
    };
    audit::record(
        &txn,
        audit::Entry::creator(t, "team.role_changed", "user", u.id).details(serde_json::json!({
            "email": u.email, "from": from.as_str(), "to": role.as_str(), "api_keys_revoked": keys,
            "invites_revoked": invites,
        })),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(MemberOut::of(u))
}

/// Removes a member from the workspace, or — when `user_id` is the caller — leaves it (any
/// role may leave). The last owner can do neither (409 `last_owner`). The account stays,
/// without a workspace; its sessions stop working at once, the API keys and pending invites
/// it created are revoked, and its owner links are deleted (in every process at once: no
/// notifications or code batches reach its Telegram chats again).
pub async fn remove_member(ctx: &AppCtx, t: &TenantCtx, user_id: Uuid) -> Result<()> {
    let leaving = t.actor.user_id == Some(user_id);
    if leaving {
        t.writable()?;
    } else {
        t.may(Action::ManageTeam)?;
    }
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    lock_tenant(&txn, t.tenant_id).await?;
    let u = find_member(&txn, t, user_id).await?;
    let role = Role::of(u.role).unwrap_or(Role::Member);
    if role == Role::Owner && owners(&txn, t.tenant_id).await? <= 1 {
        return Err(last_owner());
    }
    // Conditional on still being in this workspace, so a racing removal writes once.
    let gone = user::Entity::update_many()
        .col_expr(user::Column::TenantId, Expr::value(Option::<Uuid>::None))
        .col_expr(user::Column::Role, Expr::value(Role::Member.stored()))
        .filter(user::Column::Id.eq(u.id))
        .filter(user::Column::TenantId.eq(t.tenant_id))
        .exec(&txn)
        .await?
        .rows_affected;
    let mut linked_projects = vec![];
    if gone == 1 {
        let keys = revoke_keys_of(&txn, t.tenant_id, u.id, now).await?;
        let invites = revoke_invites_of(&txn, t.tenant_id, u.id, now).await?;
        linked_projects = drop_owner_links_of(&txn, t.tenant_id, u.id).await?;
        let action = if leaving {
            "team.member_left"
        } else {
            "team.member_removed"
        };
        audit::record(
            &txn,
            audit::Entry::creator(t, action, "user", u.id).details(serde_json::json!({
                "email": u.email, "role": role.as_str(), "api_keys_revoked": keys,
                "invites_revoked": invites, "owner_links_removed": linked_projects.len(),
            })),
            now,
        )
        .await?;
    }
    txn.commit().await?;
    // Every process forgets those projects' cached owners (`facts::linked_owners`).
    for project_id in linked_projects {
        crate::telegram::registry::changed(ctx, project_id).await;
    }
    Ok(())
}

/// Makes another member the owner; the caller (an owner) becomes an admin.
pub async fn transfer_ownership(
    ctx: &AppCtx,
    t: &TenantCtx,
    to_user_id: Uuid,
) -> Result<MemberOut> {
    t.may(Action::ManageTeam)?;
    let Some(me) = t.actor.user_id else {
        return Err(Error::forbidden(
            "transfer_needs_member",
            "ownership is transferred by a signed-in owner",
        ));
    };
    if me == to_user_id {
        return Err(Error::field(
            "user_id",
            "already_owner",
            "you are the owner already; pick another member",
        ));
    }
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    lock_tenant(&txn, t.tenant_id).await?;
    let target = find_member(&txn, t, to_user_id).await?;
    let from_role = Role::of(target.role).unwrap_or(Role::Member);
    let mut am: user::ActiveModel = target.into();
    am.role = Set(Role::Owner.stored());
    let target = am.update(&txn).await?;
    user::Entity::update_many()
        .col_expr(user::Column::Role, Expr::value(Role::Admin.stored()))
        .filter(user::Column::Id.eq(me))
        .filter(user::Column::TenantId.eq(t.tenant_id))
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        audit::Entry::creator(t, "team.ownership_transferred", "user", target.id).details(
            serde_json::json!({
                "to_email": target.email, "to_previous_role": from_role.as_str(),
                "from_user_id": me, "from_new_role": "admin",
            }),
        ),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(MemberOut::of(target))
}
