use sea_orm::entity::prelude::*;

/// One uploaded image, re-encoded, with its two objects in the store.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "media")]
pub struct Model {
    /// A UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub owner_id: Uuid,
    /// The full size's object key in the store.
    pub full_key: String,
    /// The preview's object key in the store.
    pub preview_key: String,
    /// Of both objects: `image/jpeg` or `image/png`.
    pub content_type: String,
    /// Of the full size.
    pub width: i32,
    pub height: i32,
    /// Both objects' sizes together.
    pub bytes: i64,
    pub blurhash: String,
    pub alt: Option<String>,
    /// The post it is attached to, with its place (0-3) there.
    pub post_id: Option<Uuid>,
    pub position: Option<i16>,
    pub created_at: DateTimeUtc,
    /// When a post or a profile took it; null: unattached, expires.
    pub attached_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
