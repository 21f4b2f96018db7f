use sea_orm::entity::prelude::*;

/// The public face of an account: one per user.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "profile")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// Lower-case; unique.
    #[sea_orm(unique)]
    pub handle: String,
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub post_count: i32,
    pub follower_count: i32,
    pub following_count: i32,
    /// Follows need the owner's approval; posts are for followers only.
    pub locked: bool,
    /// The profile's pictures (`media` rows).
    pub avatar_id: Option<Uuid>,
    pub banner_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    User,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
