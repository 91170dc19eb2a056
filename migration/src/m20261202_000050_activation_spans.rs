//! Activations record the time each one added to its subscription (`added_from` up to
//! `added_until`; `added_until` null for lifetime), so rolling a code back takes away exactly
//! that. Existing activations that are their subscription's only one get the subscription's
//! own start and end; others keep null (`added_from` null = span unknown).
use sea_orm_migration::{prelude::*, schema::*, sea_orm::ConnectionTrait};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn activations() -> Alias {
    Alias::new("activations")
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        for col in ["added_from", "added_until"] {
            m.alter_table(
                Table::alter()
                    .table(activations())
                    .add_column(timestamp_with_time_zone_null(col))
                    .to_owned(),
            )
            .await?;
        }
        // Backfill: a subscription with one activation got all its time from it.
        let single = Query::select()
            .column(Alias::new("subscription_id"))
            .from(activations())
            .and_where(Expr::col(Alias::new("subscription_id")).is_not_null())
            .group_by_col(Alias::new("subscription_id"))
            .and_having(Expr::col(Asterisk).count().eq(1))
            .to_owned();
        let of_subscription = |col: &str| {
            Query::select()
                .column((Alias::new("subscriptions"), Alias::new(col)))
                .from(Alias::new("subscriptions"))
                .and_where(
                    Expr::col((Alias::new("subscriptions"), Alias::new("id")))
                        .equals((activations(), Alias::new("subscription_id"))),
                )
                .to_owned()
        };
        let backfill = Query::update()
            .table(activations())
            .value(
                Alias::new("added_from"),
                Expr::expr(SimpleExpr::SubQuery(
                    None,
                    Box::new(of_subscription("starts_at").into_sub_query_statement()),
                )),
            )
            .value(
                Alias::new("added_until"),
                Expr::expr(SimpleExpr::SubQuery(
                    None,
                    Box::new(of_subscription("ends_at").into_sub_query_statement()),
                )),
            )
            .and_where(Expr::col(Alias::new("subscription_id")).in_subquery(single))
            .to_owned();
        m.get_connection().execute(&backfill).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in ["added_until", "added_from"] {
            m.alter_table(
                Table::alter()
                    .table(activations())
                    .drop_column(Alias::new(col))
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
