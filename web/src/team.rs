//! The team pages: members and their roles (change role, remove, make owner, leave), pending
//! invites (revoke), the invite form (the link shown once, in its answer), and the public
//! page where an invite is accepted. Who may do what is the domain's role table; pages hide
//! what the signed-in role may not do, and the domain refuses it anyway.
use askama::Template;
use axum::{
    extract::{Path, Query, State},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::CookieJar;
use domain::{
    AppCtx,
    team::{self, InviteIn, InvitePreview, InviteStatus, MemberOut},
    tenants::Role,
};
use uuid::Uuid;

use crate::{
    auth::ClientIp,
    form::FormData,
    page::{self, FormErrors, Layout, WebResult},
    session::{self, CreatorSession, Csrf},
};

pub struct InviteRow {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    l: Layout,
    members: Vec<MemberOut>,
    invites: Vec<InviteRow>,
    me: Option<Uuid>,
    notice: Option<&'static str>,
}

impl TeamPage {
    fn is_me(&self, id: &Uuid) -> bool {
        self.me.as_ref() == Some(id)
    }
}

#[derive(serde::Deserialize)]
pub struct Params {
    notice: Option<String>,
}

fn notice_text(n: Option<&str>) -> Option<&'static str> {
    Some(match n? {
        "role_changed" => "Role changed.",
        "removed" => "Member removed. Their sessions and API keys stopped working at once.",
        "transferred" => "Ownership transferred. You are an admin now.",
        "invite_revoked" => "Invite revoked. Its link no longer works.",
        _ => return None,
    })
}

pub async fn page(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Query(q): Query<Params>,
) -> WebResult {
    let members = team::members(&ctx, &s.t).await?;
    let invites = team::list_invites(&ctx, &s.t)
        .await?
        .into_iter()
        .filter(|i| i.status == InviteStatus::Pending)
        .map(|i| InviteRow {
            id: i.id,
            email: i.email,
            role: i.role,
            expires_at: i.expires_at,
        })
        .collect();
    Ok(page::ok(&TeamPage {
        l: Layout::creator("Team", &s),
        members,
        invites,
        me: s.t.actor.user_id,
        notice: notice_text(q.notice.as_deref()),
    }))
}

#[derive(Template)]
#[template(path = "team_invite.html")]
struct InvitePage {
    l: Layout,
    email: String,
    role: String,
    errors: FormErrors,
    created_url: Option<String>,
}

pub async fn invite_page(s: CreatorSession) -> WebResult {
    Ok(page::ok(&InvitePage {
        l: Layout::creator("Invite a teammate", &s),
        email: String::new(),
        role: "member".into(),
        errors: FormErrors::default(),
        created_url: None,
    }))
}

/// Creates the invite and answers with its link in the page itself (never stored, never in
/// a redirect), so it is shown exactly once.
pub async fn invite(State(ctx): State<AppCtx>, s: CreatorSession, form: FormData) -> WebResult {
    let (email, role) = (form.get("email"), form.get("role"));
    let input = InviteIn {
        email: email.clone(),
        role: role.clone(),
    };
    let (errors, created_url, status) = match team::create_invite(&ctx, &s.t, input).await {
        Ok(out) => (
            FormErrors::default(),
            Some(out.url),
            axum::http::StatusCode::CREATED,
        ),
        Err(e) => {
            let errors = FormErrors::from_error(e)?;
            let status = errors.status();
            (errors, None, status)
        }
    };
    Ok(page::render(
        status,
        &InvitePage {
            l: Layout::creator("Invite a teammate", &s),
            email,
            role,
            errors,
            created_url,
        },
    ))
}

pub async fn revoke_invite(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(invite_id): Path<Uuid>,
) -> WebResult {
    team::revoke_invite(&ctx, &s.t, invite_id).await?;
    Ok(page::see_other("/team?notice=invite_revoked"))
}

pub async fn change_role(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(user_id): Path<Uuid>,
    form: FormData,
) -> WebResult {
    team::change_role(&ctx, &s.t, user_id, &form.get("role")).await?;
    Ok(page::see_other("/team?notice=role_changed"))
}

#[derive(Template)]
#[template(path = "team_confirm.html")]
struct ConfirmPage {
    l: Layout,
    heading: String,
    text: String,
    action: String,
    button: &'static str,
}

async fn member(ctx: &AppCtx, s: &CreatorSession, user_id: Uuid) -> WebResult<MemberOut> {
    team::members(ctx, &s.t)
        .await?
        .into_iter()
        .find(|m| m.user_id == user_id)
        .ok_or_else(|| domain::Error::not_found("member").into())
}

pub async fn remove_page(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(user_id): Path<Uuid>,
) -> WebResult {
    let m = member(&ctx, &s, user_id).await?;
    let leaving = s.t.actor.user_id == Some(user_id);
    let (heading, text, button) = if leaving {
        (
            "Leave this workspace?".to_string(),
            "You lose access at once. Your account stays; an owner can invite you again."
                .to_string(),
            "Leave workspace",
        )
    } else {
        (
            format!("Remove {}?", m.email),
            "They lose access at once: their sessions and the API keys they created stop working. Their account stays; you can invite them again.".to_string(),
            "Remove member",
        )
    };
    Ok(page::ok(&ConfirmPage {
        l: Layout::creator(heading.clone(), &s),
        heading,
        text,
        action: format!("/team/members/{user_id}/remove"),
        button,
    }))
}

pub async fn remove(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    jar: CookieJar,
    Path(user_id): Path<Uuid>,
) -> WebResult {
    team::remove_member(&ctx, &s.t, user_id).await?;
    if s.t.actor.user_id == Some(user_id) {
        let jar = jar.add(session::clear_session(&ctx));
        return Ok((jar, Redirect::to("/login")).into_response());
    }
    Ok(page::see_other("/team?notice=removed"))
}

pub async fn transfer_page(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(user_id): Path<Uuid>,
) -> WebResult {
    let m = member(&ctx, &s, user_id).await?;
    let heading = format!("Make {} the owner?", m.email);
    Ok(page::ok(&ConfirmPage {
        l: Layout::creator(heading.clone(), &s),
        heading,
        text: "They become the owner (billing and the team); you become an admin.".into(),
        action: format!("/team/members/{user_id}/transfer"),
        button: "Transfer ownership",
    }))
}

pub async fn transfer(
    State(ctx): State<AppCtx>,
    s: CreatorSession,
    Path(user_id): Path<Uuid>,
) -> WebResult {
    team::transfer_ownership(&ctx, &s.t, user_id).await?;
    Ok(page::see_other("/team?notice=transferred"))
}

#[derive(Template)]
#[template(path = "invite_accept.html")]
struct AcceptPage {
    l: Layout,
    inv: InvitePreview,
    token: String,
    errors: FormErrors,
}

/// The public page of an invite link. Unknown, used, revoked and expired links show why.
pub async fn accept_page(
    State(ctx): State<AppCtx>,
    Csrf(csrf): Csrf,
    Path(token): Path<String>,
) -> WebResult {
    let inv = team::preview_invite(&ctx, &token).await?;
    Ok(page::ok(&AcceptPage {
        l: Layout::anonymous(format!("Join {}", inv.workspace), &csrf),
        inv,
        token,
        errors: FormErrors::default(),
    }))
}

pub async fn accept(
    State(ctx): State<AppCtx>,
    ClientIp(ip): ClientIp,
    Csrf(csrf): Csrf,
    jar: CookieJar,
    Path(token): Path<String>,
    form: FormData,
) -> WebResult<Response> {
    // Passwords are taken as typed (spaces may be part of them).
    let password = form
        .0
        .iter()
        .find(|(k, _)| k == "password")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    match team::accept(&ctx, &token, &password, ip).await {
        Ok(out) => {
            let jar = jar.add(session::session_cookie(&ctx, out.session.token));
            Ok((jar, Redirect::to("/projects")).into_response())
        }
        Err(e)
            if matches!(
                e.kind,
                domain::ErrorKind::Invalid
                    | domain::ErrorKind::Unauthenticated
                    | domain::ErrorKind::RateLimited
            ) =>
        {
            let inv = team::preview_invite(&ctx, &token).await?;
            let errors = match e.kind {
                domain::ErrorKind::Unauthenticated => FormErrors {
                    general: Some("That password does not match the account.".into()),
                    status: Some(axum::http::StatusCode::UNAUTHORIZED),
                    ..Default::default()
                },
                _ => FormErrors::from_error(e)?,
            };
            Ok(page::render(
                errors.status(),
                &AcceptPage {
                    l: Layout::anonymous(format!("Join {}", inv.workspace), &csrf),
                    inv,
                    token,
                    errors,
                },
            ))
        }
        Err(e) => Err(e.into()),
    }
}
