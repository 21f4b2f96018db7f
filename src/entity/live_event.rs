use sea_orm::entity::prelude::*;

/// One event for the subscriptions of every instance (`live::event`),
/// kept for a few minutes.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "live_event")]
pub struct Model {
    /// A counter: the relay reads the ids above the last it has seen.
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: String,
    pub post_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub recipient_id: Option<Uuid>,
    pub group_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
