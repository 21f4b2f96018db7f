use std::process::ExitCode;

use clap::Parser;
use migration::{Migrator, MigratorTrait};
use sns_api::app::App;
use sns_api::config::{Cli, Command, MigrateAction};

// Steadier memory than glibc's per-thread arenas under many concurrent
// 19 MiB argon2 buffers, and faster small allocations.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Schema) => {
            print!("{}", sns_api::sdl());
            return ExitCode::SUCCESS;
        }
        Some(Command::HashCost { rounds, threads }) => {
            return sns_api::auth::hash_cost::run(rounds, threads);
        }
        _ => {}
    }
    sns_api::telemetry::init(&cli.config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.config.worker_threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            None | Some(Command::Serve) => App::build(cli.config).await?.run().await,
            Some(Command::Migrate { action }) => migrate(&cli.config, action).await,
            Some(Command::Users { action }) => sns_api::admin::run(&cli.config, action).await,
            Some(Command::Reports { action }) => {
                sns_api::admin::reports::run(&cli.config, action).await
            }
            Some(Command::Schema | Command::HashCost { .. }) => unreachable!("handled above"),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(config: &sns_api::config::Config, action: MigrateAction) -> anyhow::Result<()> {
    config.validate()?;
    let db = sns_api::db::connect(&config.database).await?;
    match action {
        MigrateAction::Up => Migrator::up(&db, None).await?,
        MigrateAction::Down => Migrator::down(&db, Some(1)).await?,
        MigrateAction::Status => {
            for m in Migrator::get_migration_with_status(&db).await? {
                println!("{:<10} {}", format!("{:?}", m.status()), m.name());
            }
        }
    }
    Ok(())
}
