//! Blocks, mutes and locked profiles written as rows, through the test's
//! own connection: the read paths' tests set up the relations they read
//! without depending on the mutations that make them (tested apart).

use chrono::{SubsecRound as _, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, ExprTrait as _, QueryFilter, Set};
use sns_api::entity::{block, follow, mute, profile};
use uuid::Uuid;

use crate::common::TestApp;

impl TestApp {
    /// A `block` row: `blocker` blocks `blocked`, and the follows between
    /// them end, as the mutation does.
    pub async fn block_row(&self, blocker: Uuid, blocked: Uuid) {
        follow::Entity::delete_many()
            .filter(
                sea_orm::Condition::any()
                    .add(
                        follow::Column::FollowerId
                            .eq(blocker)
                            .and(follow::Column::FolloweeId.eq(blocked)),
                    )
                    .add(
                        follow::Column::FollowerId
                            .eq(blocked)
                            .and(follow::Column::FolloweeId.eq(blocker)),
                    ),
            )
            .exec(&self.db)
            .await
            .unwrap();
        block::ActiveModel {
            id: Set(Uuid::now_v7()),
            blocker_id: Set(blocker),
            blocked_id: Set(blocked),
            created_at: Set(Utc::now().trunc_subsecs(0)),
        }
        .insert(&self.db)
        .await
        .unwrap();
    }

    /// A `mute` row: `muter` mutes `muted`.
    pub async fn mute_row(&self, muter: Uuid, muted: Uuid) {
        mute::ActiveModel {
            id: Set(Uuid::now_v7()),
            muter_id: Set(muter),
            muted_id: Set(muted),
            created_at: Set(Utc::now().trunc_subsecs(0)),
        }
        .insert(&self.db)
        .await
        .unwrap();
    }

    /// Sets `user`'s profile `locked`.
    pub async fn lock_row(&self, user: Uuid, locked: bool) {
        let updated = profile::Entity::update_many()
            .col_expr(profile::Column::Locked, Expr::value(locked))
            .filter(profile::Column::UserId.eq(user))
            .exec(&self.db)
            .await
            .unwrap();
        assert_eq!(updated.rows_affected, 1, "a profile of {user}");
    }
}
