//! The `gatehouse` command line: `serve`, `api`, `worker`, `migrate`, `staff create`.
use clap::{Parser, Subcommand, ValueEnum};
use domain::{AppCtx, accounts::StaffRole, config::Config};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Paid and free membership for Telegram communities"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// API, dashboard, bot router and worker in one process (migrates first).
    Serve,
    /// API, dashboard and bot webhooks only.
    Api,
    /// Background jobs and schedules only.
    Worker,
    /// Apply database migrations and exit.
    Migrate,
    /// Platform staff accounts (never created through signup).
    Staff {
        #[command(subcommand)]
        command: StaffCommand,
    },
}

#[derive(Subcommand)]
pub enum StaffCommand {
    /// Create a staff account.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        #[arg(long, value_enum, default_value = "staff")]
        role: StaffRoleArg,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum StaffRoleArg {
    Staff,
    StaffReadonly,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let ctx = AppCtx::connect(config).await?;
    let shutdown = CancellationToken::new();
    match cli.command {
        Command::Migrate => {
            ctx.migrate().await?;
            tracing::info!("migrations applied");
        }
        Command::Staff {
            command:
                StaffCommand::Create {
                    email,
                    password,
                    role,
                },
        } => {
            ctx.migrate().await?;
            let role = match role {
                StaffRoleArg::Staff => StaffRole::Staff,
                StaffRoleArg::StaffReadonly => StaffRole::StaffReadonly,
            };
            let id = domain::accounts::create_staff(&ctx, &email, &password, role)
                .await
                .map_err(|e| anyhow::anyhow!("{}", describe(&e)))?;
            println!("created {} {email} ({id})", role.as_str());
        }
        Command::Serve => {
            ctx.migrate().await?;
            crate::app::shutdown_on_signals(shutdown.clone());
            let listener = tokio::net::TcpListener::bind(ctx.config.bind).await?;
            tracing::info!(addr = %listener.local_addr()?, "gatehouse serving (api, dashboard, bots, worker)");
            let worker = tokio::spawn(worker::run(ctx.clone(), shutdown.clone()));
            tokio::spawn(domain::telegram::registry::listen(
                ctx.clone(),
                shutdown.clone(),
            ));
            let pollers = tokio::spawn(bot_router::run_pollers(ctx.clone(), shutdown.clone()));
            crate::app::serve_http(ctx, listener, shutdown.clone()).await?;
            shutdown.cancel();
            worker.await??;
            pollers.await?;
        }
        Command::Api => {
            crate::app::shutdown_on_signals(shutdown.clone());
            let listener = tokio::net::TcpListener::bind(ctx.config.bind).await?;
            tracing::info!(addr = %listener.local_addr()?, "gatehouse api serving");
            tokio::spawn(domain::telegram::registry::listen(
                ctx.clone(),
                shutdown.clone(),
            ));
            crate::app::serve_http(ctx, listener, shutdown).await?;
        }
        Command::Worker => {
            crate::app::shutdown_on_signals(shutdown.clone());
            tokio::spawn(domain::telegram::registry::listen(
                ctx.clone(),
                shutdown.clone(),
            ));
            // Long polling for bots without a public URL runs beside the jobs.
            let pollers = tokio::spawn(bot_router::run_pollers(ctx.clone(), shutdown.clone()));
            worker::run(ctx, shutdown).await?;
            pollers.await?;
        }
    }
    Ok(())
}

fn describe(e: &domain::Error) -> String {
    let mut s = e.message.clone();
    for (field, fe) in &e.fields {
        s.push_str(&format!("; {field}: {}", fe.message));
    }
    s
}
