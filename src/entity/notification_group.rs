use sea_orm::entity::prelude::*;

/// One group of an account's notifications: a post's likes, a post's
/// reposts, a UTC day's follows, one reply or one mention.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_group")]
pub struct Model {
    /// A UUIDv7, stable while the group lives.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub recipient_id: Uuid,
    /// `FOLLOW`, `LIKE`, `REPOST`, `REPLY` or `MENTION`.
    pub kind: String,
    /// What the group is about, unique per (recipient, kind): a post's id,
    /// or a UTC day (`2026-12-05`) for follows.
    pub subject: String,
    /// LIKE/REPOST: the recipient's post; REPLY/MENTION: the reply or the
    /// mentioning post; FOLLOW: none.
    pub post_id: Option<Uuid>,
    /// The id (a UUIDv7) of the group's newest event: the inbox's order.
    pub top_id: Uuid,
    pub actor_count: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
