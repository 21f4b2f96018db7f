use sea_orm::entity::prelude::*;

/// `user_id` reposted `post_id`; one row per pair. An undone repost keeps
/// its row for a while, with `removed_at` set (feeds being paged read it).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "repost")]
pub struct Model {
    /// A UUIDv7: the moment of the repost's feed entry.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub post_id: Uuid,
    pub user_id: Uuid,
    pub created_at: DateTimeUtc,
    pub removed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
