use sea_orm::entity::prelude::*;

/// What an account reported, for operators. No foreign keys: a report
/// outlives what it names, so it keeps the handle and the post's body as
/// they were when reported.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "report")]
pub struct Model {
    /// A UUIDv7.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub reporter_id: Uuid,
    /// The account reported: the profile's, or the post's author.
    pub account_id: Uuid,
    /// The account's handle when reported.
    pub handle: String,
    pub post_id: Option<Uuid>,
    /// The post's body when reported.
    pub post_body: Option<String>,
    /// `SPAM`, `HARASSMENT`, `ILLEGAL` or `OTHER`.
    pub reason: String,
    pub comment: Option<String>,
    pub created_at: DateTimeUtc,
    pub resolved_at: Option<DateTimeUtc>,
    /// The operator's note when resolving.
    pub resolution: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
