use sea_orm::entity::prelude::*;

/// One actor's event in a notification group; one per (group, actor).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_event")]
pub struct Model {
    /// A UUIDv7: when the event happened, and the order of a group's actors.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub group_id: Uuid,
    pub actor_id: Uuid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
