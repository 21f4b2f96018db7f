//! At most one auth mutation (register, login, refresh, changePassword) per
//! document: aliases would otherwise run a hundred password guesses in one
//! request. Counted over the root of the operation that runs, fragments
//! included.

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest,
};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, Request, ServerError, ServerResult, Variables};

const AUTH_MUTATIONS: [&str; 4] = ["register", "login", "refresh", "changePassword"];

pub struct OneAuthMutation;

impl ExtensionFactory for OneAuthMutation {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PerRequest {
            operation_name: Mutex::new(None),
        })
    }
}

struct PerRequest {
    operation_name: Mutex<Option<String>>,
}

/// Auth mutation fields at the root of `set`, through fragments (each
/// fragment at most once, so a cycle cannot loop).
fn count(doc: &ExecutableDocument, set: &SelectionSet, seen: &mut Vec<String>) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(f) => usize::from(AUTH_MUTATIONS.contains(&f.node.name.node.as_str())),
            Selection::InlineFragment(f) => count(doc, &f.node.selection_set.node, seen),
            Selection::FragmentSpread(s) => {
                let name = s.node.fragment_name.node.to_string();
                if seen.contains(&name) {
                    return 0;
                }
                seen.push(name.clone());
                doc.fragments
                    .get(&s.node.fragment_name.node)
                    .map_or(0, |f| count(doc, &f.node.selection_set.node, seen))
            }
        })
        .sum()
}

#[async_trait::async_trait]
impl Extension for PerRequest {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if let Ok(mut slot) = self.operation_name.lock() {
            slot.clone_from(&request.operation_name);
        }
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        let name = self.operation_name.lock().ok().and_then(|n| n.clone());
        if let Some(op) = super::selected_operation(&doc, name.as_deref())
            && count(&doc, &op.node.selection_set.node, &mut Vec::new()) > 1
        {
            let mut e = ServerError::new(
                "At most one of register, login, refresh and changePassword may run per request.",
                Some(op.pos),
            );
            let mut ext = ErrorExtensionValues::default();
            ext.set("code", "GRAPHQL_VALIDATION_FAILED");
            e.extensions = Some(ext);
            return Err(e);
        }
        Ok(doc)
    }
}
