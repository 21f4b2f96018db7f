use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "post")]
pub struct Model {
    /// A UUIDv7: the order of every page of posts.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub author_id: Uuid,
    pub body: String,
    pub created_at: DateTimeUtc,
    /// The post this one replies to; kept after that post is deleted.
    pub in_reply_to_id: Option<Uuid>,
    pub like_count: i32,
    pub repost_count: i32,
    /// Direct replies.
    pub reply_count: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
