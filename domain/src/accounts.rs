//! Accounts: passwords (argon2id), login with attempt limiting, JWT sessions, tenant API keys,
//! and resolving a bearer credential into the principal a request acts as.
use std::{net::IpAddr, sync::LazyLock};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use chrono::{DateTime, Duration, Utc};
use rand::{Rng, RngCore};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set, TransactionTrait, sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use entity::{api_key, tenant, user};

pub use crate::tenancy::{Principal, StaffCtx, StaffRole};
use crate::{
    AppCtx, audit,
    error::{Error, Result},
    limits,
    tenancy::{Action, Actor, Role, TenantCtx},
    validate,
};

pub const SESSION_TTL_HOURS: i64 = 12;
/// Failed logins allowed per email from one client address within [`LOGIN_WINDOW_MINUTES`]:
/// someone guessing from their address locks only that address out of the account.
pub const LOGIN_MAX_FAILURES: u64 = 5;
/// Failed logins allowed per email from all addresses together within the same window: a
/// ceiling high enough that a guesser spreading over addresses rarely locks the owner out,
/// low enough to keep a distributed guess slow.
pub const LOGIN_EMAIL_MAX_FAILURES: u32 = 50;
/// Failed logins allowed per client address (IPv4, or IPv6 /64) within the same window:
/// enough for an office behind one NAT, too few to spray passwords across accounts.
pub const LOGIN_IP_MAX_FAILURES: u32 = 30;
pub const LOGIN_WINDOW_MINUTES: i64 = 15;
/// A login refused by either limit (429 with `Retry-After`).
pub const TOO_MANY_ATTEMPTS: &str = "too_many_attempts";
pub const API_KEY_PREFIX: &str = "gh_";

/// A session token for the API and the dashboard.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Session {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: Uuid,
    iat: i64,
    exp: i64,
}

static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_blocking("a password nobody has").expect("hashing a constant"));

fn hash_blocking(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(anyhow::anyhow!("argon2: {e}")))
}

/// argon2id with the crate's default (OWASP) parameters, off the async threads, holding a
/// permit of `ctx.password_work` (signup is unauthenticated too).
pub async fn hash_password(ctx: &AppCtx, password: &str) -> Result<String> {
    let _permit = ctx.password_work.acquire().await?;
    let p = password.to_string();
    tokio::task::spawn_blocking(move || hash_blocking(&p))
        .await
        .map_err(Error::internal)?
}

async fn verify_password(password: &str, hash: &str) -> bool {
    let (p, h) = (password.to_string(), hash.to_string());
    tokio::task::spawn_blocking(move || {
        PasswordVerifier::<str>::verify_password(&Argon2::default(), p.as_bytes(), &h).is_ok()
    })
    .await
    .unwrap_or(false)
}

pub(crate) async fn find_user_by_email(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .one(db)
        .await?)
}

pub fn issue_session(ctx: &AppCtx, user_id: Uuid) -> Result<Session> {
    let now = ctx.now();
    let expires_at = now + Duration::hours(SESSION_TTL_HOURS);
    let claims = Claims {
        sub: user_id,
        iat: now.timestamp(),
        exp: expires_at.timestamp(),
    };
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &ctx.keys.jwt_encoding,
    )
    .map_err(Error::internal)?;
    Ok(Session { token, expires_at })
}

/// Checks email and password for a request from `client`.
///
/// Each attempt is counted *before* the password is verified, by one conditional upsert per
/// key (`limits::take`): per email *and* client address together ([`LOGIN_MAX_FAILURES`] per
/// [`LOGIN_WINDOW_MINUTES`]), per email from anywhere ([`LOGIN_EMAIL_MAX_FAILURES`]) and per
/// client address ([`LOGIN_IP_MAX_FAILURES`]), all in the same window, so parallel guesses
/// cannot all slip past a check made before any of them was recorded. A guesser locks the
/// account only for their own address; the owner still signs in from theirs. An attempt
/// refused by one limit costs no argon2 work and is given back to the others. A success
/// clears the email's counters and gives the address its attempt back. The argon2 work itself
/// holds a permit of `ctx.password_work`; without one the attempt is given back and the
/// answer is 503 `server_busy`.
///
/// An account that belongs to no workspace (a removed teammate) is refused with 403
/// `no_workspace` once its password is right: it can only join one through an invite.
pub async fn login(ctx: &AppCtx, email: &str, password: &str, client: IpAddr) -> Result<Session> {
    let u = verify_credentials(ctx, email, password, client).await?;
    if u.tenant_id.is_none() && StaffRole::of(u.role).is_none() {
        return Err(Error::forbidden(
            NO_WORKSPACE,
            "this account no longer belongs to a workspace; ask its owner for a new invite",
        ));
    }
    issue_session(ctx, u.id)
}

/// A login refused because the account belongs to no workspace (HTTP 403).
pub const NO_WORKSPACE: &str = "no_workspace";

/// The account behind an email and password, counted by the login limits exactly as
/// [`login`] describes (accepting a team invite with an existing account uses it too).
pub(crate) async fn verify_credentials(
    ctx: &AppCtx,
    email: &str,
    password: &str,
    client: IpAddr,
) -> Result<user::Model> {
    let email = email.trim().to_lowercase();
    let now = ctx.now();
    let window = Duration::minutes(LOGIN_WINDOW_MINUTES);
    let too_many = |retry| {
        Error::rate_limited(
            TOO_MANY_ATTEMPTS,
            "too many failed logins; try again later",
            retry,
        )
    };
    let address = limits::address_key(client);
    let pair_slot = match limits::take(
        &ctx.db,
        &format!("pair:{address}:{email}"),
        LOGIN_MAX_FAILURES as u32,
        window,
        now,
    )
    .await?
    {
        Ok(slot) => slot,
        Err(retry) => return Err(too_many(retry)),
    };
    let email_slot = match limits::take(
        &ctx.db,
        &format!("email:{email}"),
        LOGIN_EMAIL_MAX_FAILURES,
        window,
        now,
    )
    .await?
    {
        Ok(slot) => slot,
        Err(retry) => {
            limits::refund(&ctx.db, &pair_slot).await?;
            return Err(too_many(retry));
        }
    };
    if pair_slot.attempts == 1 {
        // A new window for this email: a cheap moment to forget every ended window. Judged
        // by a clock never ahead of the wall clock, so a process whose clock runs ahead (or
        // a test's manual clock) cannot delete counters other processes still use.
        let cutoff = Ord::min(now, chrono::Utc::now()) - limits::LONGEST_WINDOW;
        limits::prune(&ctx.db, cutoff).await?;
    }
    let ip_slot = match limits::take(
        &ctx.db,
        &format!("ip:{address}"),
        LOGIN_IP_MAX_FAILURES,
        window,
        now,
    )
    .await?
    {
        Ok(slot) => slot,
        Err(retry) => {
            limits::refund(&ctx.db, &pair_slot).await?;
            limits::refund(&ctx.db, &email_slot).await?;
            return Err(too_many(retry));
        }
    };
    let permit = match ctx.password_work.acquire().await {
        Ok(p) => p,
        Err(e) => {
            limits::refund(&ctx.db, &pair_slot).await?;
            limits::refund(&ctx.db, &email_slot).await?;
            limits::refund(&ctx.db, &ip_slot).await?;
            return Err(e);
        }
    };
    let user = find_user_by_email(&ctx.db, &email).await?;
    let ok = match &user {
        Some(u) => verify_password(password, &u.password_hash).await,
        None => {
            // Same work whether or not the account exists, so timing reveals nothing.
            verify_password(password, &DUMMY_HASH).await;
            false
        }
    };
    drop(permit);
    match (ok, user) {
        (true, Some(u)) => {
            limits::reset(&ctx.db, &pair_slot.key).await?;
            limits::reset(&ctx.db, &email_slot.key).await?;
            limits::refund(&ctx.db, &ip_slot).await?;
            Ok(u)
        }
        _ => Err(Error::unauthenticated(
            "invalid_credentials",
            "email or password is wrong",
        )),
    }
}

pub(crate) fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn unauthenticated() -> Error {
    Error::unauthenticated(
        "unauthenticated",
        "a valid session token or API key is required",
    )
}

/// Resolves a bearer credential (session JWT or tenant API key) into the acting principal.
/// Tenant status is read fresh here, once per request, so a suspension applies at once.
pub async fn authenticate(ctx: &AppCtx, bearer: &str) -> Result<Principal> {
    if bearer.starts_with(API_KEY_PREFIX) {
        let key = api_key::Entity::find()
            .filter(api_key::Column::KeyHash.eq(sha256_hex(bearer)))
            .filter(api_key::Column::RevokedAt.is_null())
            .one(&ctx.db)
            .await?
            .ok_or_else(unauthenticated)?;
        let t = tenant::Entity::find_by_id(key.tenant_id)
            .one(&ctx.db)
            .await?
            .ok_or_else(unauthenticated)?;
        let now = ctx.now();
        let label = format!("api_key:{}", key.prefix);
        // Touch `last_used_at` at most once a minute, not on every request.
        if key
            .last_used_at
            .is_none_or(|t| now - t > Duration::minutes(1))
        {
            let mut am = key.into_active_model();
            am.last_used_at = Set(Some(now));
            am.update(&ctx.db).await?;
        }
        return Ok(Principal::Creator(TenantCtx {
            tenant_id: t.id,
            role: Role::Admin,
            status: t.status,
            actor: Actor {
                user_id: None,
                label,
            },
        }));
    }
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    // Expiry is checked below against the domain clock, so tests can move time.
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Claims>(bearer, &ctx.keys.jwt_decoding, &validation)
        .map_err(|_| unauthenticated())?
        .claims;
    if claims.exp < ctx.now().timestamp() {
        return Err(unauthenticated());
    }
    principal_for_user(ctx, claims.sub).await
}

/// The principal of a logged-in user (session JWT or dashboard cookie).
pub async fn principal_for_user(ctx: &AppCtx, user_id: Uuid) -> Result<Principal> {
    let u = user::Entity::find_by_id(user_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(unauthenticated)?;
    if let Some(role) = StaffRole::of(u.role) {
        return Ok(Principal::Staff(StaffCtx {
            user_id: u.id,
            email: u.email,
            role,
        }));
    }
    let tenant_id = u.tenant_id.ok_or_else(unauthenticated)?;
    let t = tenant::Entity::find_by_id(tenant_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(unauthenticated)?;
    Ok(Principal::Creator(TenantCtx {
        tenant_id,
        role: Role::of(u.role).unwrap_or(Role::Member),
        status: t.status,
        actor: Actor {
            user_id: Some(u.id),
            label: u.email,
        },
    }))
}

// --- API keys -------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKeyOut {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the key, to tell keys apart.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<api_key::Model> for ApiKeyOut {
    fn from(k: api_key::Model) -> Self {
        ApiKeyOut {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A freshly created key: the secret is in this answer and nowhere else, ever.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKeyCreatedOut {
    #[serde(flatten)]
    pub key: ApiKeyOut,
    pub secret: String,
}

fn random_key() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let body: String = (0..40)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{API_KEY_PREFIX}{body}")
}

pub async fn create_api_key(ctx: &AppCtx, t: &TenantCtx, name: &str) -> Result<ApiKeyCreatedOut> {
    t.may(Action::ManageApiKeys)?;
    let name = validate::name("name", name)?;
    let secret = random_key();
    let now = ctx.now();
    // The key and its audit entry commit together: never one without the other.
    let txn = ctx.db.begin().await?;
    let model = api_key::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(t.tenant_id),
        created_by: Set(t.actor.user_id),
        name: Set(name),
        prefix: Set(secret[..10].to_string()),
        key_hash: Set(sha256_hex(&secret)),
        created_at: Set(now),
        last_used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        audit::Entry::creator(t, "api_key.created", "api_key", model.id)
            .details(serde_json::json!({"name": model.name, "prefix": model.prefix})),
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(ApiKeyCreatedOut {
        key: model.into(),
        secret,
    })
}

pub async fn list_api_keys(ctx: &AppCtx, t: &TenantCtx) -> Result<Vec<ApiKeyOut>> {
    Ok(api_key::Entity::find()
        .filter(api_key::Column::TenantId.eq(t.tenant_id))
        .order_by_desc(api_key::Column::CreatedAt)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

pub async fn revoke_api_key(ctx: &AppCtx, t: &TenantCtx, id: Uuid) -> Result<ApiKeyOut> {
    t.may(Action::ManageApiKeys)?;
    let key = api_key::Entity::find_by_id(id)
        .filter(api_key::Column::TenantId.eq(t.tenant_id))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| Error::not_found("api key"))?;
    if key.revoked_at.is_some() {
        return Ok(key.into());
    }
    let now = ctx.now();
    let txn = ctx.db.begin().await?;
    // Conditional, so two revocations racing write one change and one audit entry.
    let changed = api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAt, Expr::value(now))
        .filter(api_key::Column::Id.eq(key.id))
        .filter(api_key::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?
        .rows_affected;
    if changed == 1 {
        audit::record(
            &txn,
            audit::Entry::creator(t, "api_key.revoked", "api_key", key.id)
                .details(serde_json::json!({"prefix": key.prefix})),
            now,
        )
        .await?;
    }
    let key = api_key::Entity::find_by_id(key.id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("api key"))?;
    txn.commit().await?;
    Ok(key.into())
}

// --- staff bootstrap ------------------------------------------------------------------------

/// Creates a staff account. Only the `gatehouse staff create` command calls this: signup
/// can never make staff.
pub async fn create_staff(
    ctx: &AppCtx,
    email: &str,
    password: &str,
    role: StaffRole,
) -> Result<Uuid> {
    let email = validate::email("email", email)?;
    let password = validate::password("password", password)?;
    if find_user_by_email(&ctx.db, &email).await?.is_some() {
        return Err(
            Error::conflict("email_taken", "an account with this email already exists")
                .with_field("email"),
        );
    }
    let id = Uuid::now_v7();
    let now = ctx.now();
    user::ActiveModel {
        id: Set(id),
        tenant_id: Set(None),
        email: Set(email.clone()),
        password_hash: Set(hash_password(ctx, password).await?),
        role: Set(role.stored()),
        created_at: Set(now),
    }
    .insert(&ctx.db)
    .await?;
    audit::record(
        &ctx.db,
        audit::Entry {
            actor_user_id: None,
            actor: "system:cli".into(),
            tenant_id: None,
            action: "staff.created",
            target_type: "user",
            target_id: Some(id.to_string()),
            details: serde_json::json!({"email": email, "role": role.as_str()}),
        },
        now,
    )
    .await?;
    Ok(id)
}
