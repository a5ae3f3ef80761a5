//! expr-lang and govaluate front ends: errors name the token and column,
//! deep nesting and huge input are refused cleanly.

use sluice_api::expr::{EmptyScope, MAX_DEPTH, MAX_INPUT_LEN, eval_expr, eval_when, parse_expr};

#[test]
fn errors_name_token_and_column() {
    let e = parse_expr("1 + * 2").expect_err("bad");
    assert!(e.to_string().contains("'*'"), "{e}");
    assert_eq!(e.location.map(|l| l.column), Some(5), "{e}");
    let e = eval_when("heads == ) tails").expect_err("bad");
    assert!(e.to_string().contains("column"), "{e}");
    let e = eval_when("a $ b").expect_err("bad");
    assert!(
        e.to_string().contains("'$'") && e.to_string().contains("column 3"),
        "{e}"
    );
}

#[test]
fn deep_nesting_is_refused() {
    let deep = format!("{}1{}", "(".repeat(100_000 / 4), ")".repeat(100_000 / 4));
    let e = parse_expr(&deep).expect_err("too deep");
    assert!(
        e.to_string().contains("deeper") || e.to_string().contains("limit"),
        "{e}"
    );
    let nested = format!(
        "{}1{}",
        "(".repeat(MAX_DEPTH + 5),
        ")".repeat(MAX_DEPTH + 5)
    );
    assert!(
        parse_expr(&nested)
            .expect_err("deep")
            .to_string()
            .contains("deeper")
    );
    let chain = vec!["1"; MAX_DEPTH * 2].join(" + ");
    assert!(eval_expr(&chain, &EmptyScope).is_err());
    let when = format!(
        "{}true{}",
        "(".repeat(MAX_DEPTH + 5),
        ")".repeat(MAX_DEPTH + 5)
    );
    assert!(
        eval_when(&when)
            .expect_err("deep")
            .to_string()
            .contains("deeper")
    );
}

#[test]
fn huge_input_is_refused() {
    let huge = "1".repeat(MAX_INPUT_LEN + 1);
    assert!(
        parse_expr(&huge)
            .expect_err("huge")
            .to_string()
            .contains("limit")
    );
    assert!(
        eval_when(&huge)
            .expect_err("huge")
            .to_string()
            .contains("limit")
    );
    assert!(eval_expr("1..100000000", &EmptyScope).is_err());
}

#[test]
fn creation_timestamp_with_its_format_children_is_a_date() {
    use sluice_api::expr::FlatScope;
    let scope: FlatScope = [
        ("workflow.creationTimestamp", "2024-03-05T06:07:08Z"),
        ("workflow.creationTimestamp.Y", "2024"),
        ("workflow.creationTimestamp.RFC3339", "2024-03-05T06:07:08Z"),
    ]
    .into_iter()
    .collect();
    let year = eval_expr("sprig.date('2006', workflow.creationTimestamp)", &scope).expect("date");
    assert_eq!(year, sluice_api::expr::Value::String("2024".into()));
    let e = eval_expr("sprig.date('2006', {'a': 1})", &scope).expect_err("not a date");
    assert!(e.to_string().contains("as a date"), "{e}");
}

#[test]
fn the_left_side_of_nil_coalescing_is_optional() {
    use sluice_api::expr::{FlatScope, Value};
    let scope: FlatScope = [("tasks.producer.status", "Skipped")].into_iter().collect();
    let v = eval_expr(
        "tasks.producer.outputs.parameters.msg ?? 'fallback'",
        &scope,
    )
    .expect("optional chain");
    assert_eq!(v, Value::String("fallback".into()));
    let v = eval_expr("missing.deep.name ?? 1", &scope).expect("missing name");
    assert_eq!(v, Value::Int(1));
    // Outside `??`, the same access is an error naming the nil part.
    let e = eval_expr("tasks.producer.outputs.parameters.msg", &scope).expect_err("nil");
    assert!(
        e.to_string().contains("tasks.producer.outputs is nil"),
        "{e}"
    );
}
