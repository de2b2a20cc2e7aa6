//! Calculator: seed 002's calculator plugin as a tool. Evaluates arithmetic expressions
//! with a small recursive-descent parser, never `eval`, and explains bad input precisely.

mod expression;

use plugboard_sdk::{CallContext, HealthReport, Plugin, SelfTestResult, Settings, ToolSpec, export_plugin};
use serde_json::json;

struct Calculator;

fn expression_argument(arguments: &serde_json::Value) -> Result<&str, String> {
    arguments.get("expression").or_else(|| arguments.get("input")).and_then(serde_json::Value::as_str).ok_or_else(
        || "pass the expression as a string in `expression`, such as {\"expression\": \"2 + 2\"}".to_owned(),
    )
}

fn evaluate(text: &str) -> Result<String, String> {
    expression::evaluate(text).map(expression::format_number)
}

impl Plugin for Calculator {
    fn init(_settings: Settings) -> Result<Self, String> {
        Ok(Calculator)
    }

    fn tools(&mut self) -> Vec<ToolSpec> {
        vec![ToolSpec::new(
            "calculate",
            "Evaluates an arithmetic expression with + - * / % ^, parentheses, and the functions sqrt, abs, round, floor, ceil, ln, log10, sin, cos, tan, min, max; constants pi and e.",
            json!({
                "type": "object",
                "properties": {
                    "expression": {"type": "string", "description": "The expression, such as `2 * (3 + 4)`"}
                },
                "required": ["expression"]
            }),
        )]
    }

    fn call_tool(
        &mut self,
        _context: &CallContext,
        name: &str,
        arguments: serde_json::Value,
    ) -> Result<String, String> {
        match name {
            "calculate" => evaluate(expression_argument(&arguments)?),
            other => Err(format!("unknown tool `{other}`; this plugin has `calculate`")),
        }
    }

    fn run_command(&mut self, _context: &CallContext, name: &str, arguments: &str) -> Result<String, String> {
        match name {
            "calc" => evaluate(arguments).map(|value| format!("{} = {value}", arguments.trim())),
            other => Err(format!("unknown command `/{other}`")),
        }
    }

    fn health(&mut self) -> HealthReport {
        HealthReport::healthy("ready")
    }

    fn self_test(&mut self) -> Vec<SelfTestResult> {
        let cases = [("1 + 2 * 3", Ok("7")), ("(1 + 2) * 3", Ok("9")), ("2 ^ 3 ^ 2", Ok("512")), ("1 / 0", Err(()))];
        cases
            .into_iter()
            .map(|(input, expected)| {
                let actual = evaluate(input);
                let passed = match (&actual, expected) {
                    (Ok(value), Ok(expected)) => value == expected,
                    (Err(_), Err(())) => true,
                    _ => false,
                };
                SelfTestResult::new(input, passed, format!("{actual:?}"))
            })
            .collect()
    }
}

export_plugin!(Calculator, hooks: [Tools, Commands, Health, SelfTest]);
