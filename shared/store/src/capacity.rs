//! SDK interceptors that record each request's AWS usage into
//! [`aloft_core::aws_usage`]: every DynamoDB item operation asks for
//! `ReturnConsumedCapacity=TOTAL` (free) and its units are summed; S3 and SQS calls are
//! counted. Outside a measured request they cost a type check and nothing else.
//!
//! Where spans are kept ([`aloft_core::trace::collect`]), each call is also a client span
//! of the current trace, named `<service>.<operation>` (`DynamoDB.GetItem`).

use std::time::SystemTime;

use aloft_core::{
    aws_usage::{self, AwsUsage},
    trace::{self, SpanKind, TraceHeader},
};
use aws_sdk_dynamodb::{
    config::{
        ConfigBag, Intercept, RuntimeComponents,
        interceptors::{
            BeforeSerializationInterceptorContextMut, BeforeSerializationInterceptorContextRef,
            FinalizerInterceptorContextRef,
        },
    },
    error::BoxError,
};
use aws_sdk_dynamodb::{
    operation::{
        batch_get_item::{BatchGetItemInput, BatchGetItemOutput},
        batch_write_item::{BatchWriteItemInput, BatchWriteItemOutput},
        delete_item::{DeleteItemInput, DeleteItemOutput},
        get_item::{GetItemInput, GetItemOutput},
        put_item::{PutItemInput, PutItemOutput},
        query::{QueryInput, QueryOutput},
        scan::{ScanInput, ScanOutput},
        transact_get_items::{TransactGetItemsInput, TransactGetItemsOutput},
        transact_write_items::{TransactWriteItemsInput, TransactWriteItemsOutput},
        update_item::{UpdateItemInput, UpdateItemOutput},
    },
    types::{ConsumedCapacity, ReturnConsumedCapacity},
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

/// Asks DynamoDB for the capacity each call consumes and adds it to the request's usage.
#[derive(Debug)]
pub(crate) struct DynamoDbCapacity;

/// The item operations, each with whether its units are reads or writes.
macro_rules! item_operations {
    ($apply:ident) => {
        $apply!(GetItemInput, GetItemOutput, read, one);
        $apply!(QueryInput, QueryOutput, read, one);
        $apply!(ScanInput, ScanOutput, read, one);
        $apply!(BatchGetItemInput, BatchGetItemOutput, read, many);
        $apply!(TransactGetItemsInput, TransactGetItemsOutput, read, many);
        $apply!(PutItemInput, PutItemOutput, write, one);
        $apply!(UpdateItemInput, UpdateItemOutput, write, one);
        $apply!(DeleteItemInput, DeleteItemOutput, write, one);
        $apply!(BatchWriteItemInput, BatchWriteItemOutput, write, many);
        $apply!(
            TransactWriteItemsInput,
            TransactWriteItemsOutput,
            write,
            many
        );
    };
}

impl Intercept for DynamoDbCapacity {
    fn name(&self) -> &'static str {
        "DynamoDbCapacity"
    }

    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        CallSpan::start(cfg);
        Ok(())
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input_mut();
        macro_rules! ask {
            ($input:ty, $output:ty, $kind:ident, $shape:ident) => {
                if let Some(input) = input.downcast_mut::<$input>() {
                    input
                        .return_consumed_capacity
                        .get_or_insert(ReturnConsumedCapacity::Total);
                    return Ok(());
                }
            };
        }
        item_operations!(ask);
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let output = match context.output_or_error() {
            Some(Ok(output)) => Some(output),
            _ => None,
        };
        let mut units = None;
        macro_rules! units_of {
            (@one $o:expr) => { $o.consumed_capacity().iter().copied().map(total).sum::<f64>() };
            (@many $o:expr) => { $o.consumed_capacity().iter().map(total).sum::<f64>() };
            (@reads read) => { true };
            (@reads write) => { false };
            ($input:ty, $output:ty, $kind:ident, $shape:ident) => {
                if units.is_none()
                    && let Some(o) = output.and_then(|o| o.downcast_ref::<$output>())
                {
                    units = Some((units_of!(@reads $kind), units_of!(@$shape o)));
                }
            };
        }
        item_operations!(units_of);
        CallSpan::finish(context, cfg);
        aws_usage::record(|usage: &mut AwsUsage| {
            usage.dynamodb_calls += 1;
            match units {
                Some((true, read)) => usage.dynamodb_read_units += read,
                Some((false, write)) => usage.dynamodb_write_units += write,
                None => {}
            }
        });
        Ok(())
    }
}

fn total(consumed: &ConsumedCapacity) -> f64 {
    consumed.capacity_units().unwrap_or(0.0)
}

/// Counts the calls made with an S3 or SQS client.
#[derive(Debug)]
pub(crate) enum CallCounter {
    S3,
    Sqs,
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        CallSpan::start(cfg);
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        CallSpan::finish(context, cfg);
        aws_usage::record(|usage| match self {
            CallCounter::S3 => usage.s3_calls += 1,
            CallCounter::Sqs => usage.sqs_calls += 1,
        });
        Ok(())
    }
}

/// One AWS call's span: its trace and start, kept in the call's config bag between the
/// interceptor's first and last hooks (concurrent calls each have their own bag).
#[derive(Debug, Clone)]
struct CallSpan {
    trace: TraceHeader,
    started: SystemTime,
}

impl Storable for CallSpan {
    type Storer = StoreReplace<Self>;
}

impl CallSpan {
    fn start(cfg: &mut ConfigBag) {
        if !trace::collecting() {
            return;
        }
        if let Some(trace) = TraceHeader::current() {
            cfg.interceptor_state().store_put(CallSpan {
                trace: trace.child(),
                started: SystemTime::now(),
            });
        }
    }

    fn finish(context: &FinalizerInterceptorContextRef<'_>, cfg: &ConfigBag) {
        let Some(call) = cfg.load::<CallSpan>() else {
            return;
        };
        let (service, operation) = cfg
            .load::<Metadata>()
            .map_or(("AWS", "call"), |m| (m.service(), m.name()));
        let failed = !matches!(context.output_or_error(), Some(Ok(_)));
        trace::record(call.trace.finish(
            format!("{service}.{operation}"),
            SpanKind::Client,
            call.started,
            vec![
                ("rpc.system", "aws-api".into()),
                ("rpc.service", service.into()),
                ("rpc.method", operation.into()),
            ],
            failed,
        ));
    }
}
