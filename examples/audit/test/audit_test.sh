#!/usr/bin/env bash
# shellcheck disable=SC2016  # the single-quoted $names below are jq variables
# The audit plugin against a real oms-host with the stock users, inventory and
# orders plugins, over HTTP. Run by `ctest` (oms_add_plugin_test in
# ../CMakeLists.txt), which starts the host on a fresh database and passes
# OMS_URL, OMS_ADMIN_EMAIL and OMS_ADMIN_PASSWORD. Needs curl and jq.
#
#   1. the admin logs in and creates a product; a customer signs up and orders 2
#   2. GET /audit (admin) holds that order's order.created, with its customer,
#      total and lines
#   3. a customer gets 403 on /audit, no token 401
#   4. the customer cancels; ?event=order.created and ?event=order.cancelled
#      each return exactly that order's event, newest first unfiltered;
#      ?event=no.such.event nothing; ?event= is a 400
#   5. ?limit=1 pages: one row, a cursor, the next page older
set -euo pipefail

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
for tool in curl jq; do
  command -v "$tool" >/dev/null || fail "this test needs $tool"
done
for v in OMS_URL OMS_ADMIN_EMAIL OMS_ADMIN_PASSWORD; do
  [ -n "${!v:-}" ] || fail "$v is not set: run this through ctest (oms_add_plugin_test)"
done

# call METHOD PATH [TOKEN] [JSON]: sets STATUS and BODY.
call() {
  local method=$1 path=$2 token=${3:-} data=${4:-} out
  local args=(-sS --max-time 10 -X "$method" -w '\n%{http_code}')
  [ -z "$token" ] || args+=(-H "Authorization: Bearer $token")
  [ -z "$data" ] || args+=(-H 'Content-Type: application/json' --data "$data")
  out=$(curl "${args[@]}" "$OMS_URL$path") || fail "$method $path: curl failed"
  STATUS=${out##*$'\n'}
  BODY=${out%$'\n'*}
  LAST="$method $path"
}
expect_status() {   # expect_status CODE
  [ "$STATUS" = "$1" ] || fail "$LAST answered $STATUS, not $1: $BODY"
}
check() {   # check WHAT [jq options...] FILTER: FILTER must hold on BODY
  local what=$1
  shift
  jq -e "$@" >/dev/null <<<"$BODY" || fail "$LAST: $what; the body: $BODY"
}
field() { jq -r "$1" <<<"$BODY"; }

# --- 1. an admin, a product, a customer, an order --------------------------------
call POST /users/login "" "$(jq -nc --arg e "$OMS_ADMIN_EMAIL" --arg p "$OMS_ADMIN_PASSWORD" '{email: $e, password: $p}')"
expect_status 200
check "the admin's role is admin" '.user.role == "admin" and (.token | length > 0)'
admin=$(field .token)

call POST /inventory "$admin" '{"sku": "AUDIT-KIT-1", "name": "Audited lamp", "price": 12.5, "currency": "INR", "on_hand": 5}'
expect_status 201
check "the product is as created" '.sku == "AUDIT-KIT-1" and .price == 12.5 and .on_hand == 5 and .available == 5'
product=$(field .product_id)

call POST /users/create "" '{"name": "Casey Customer", "email": "casey@example.com", "password": "correct-horse-9"}'
expect_status 201
check "a sign-up is a customer" '.role == "customer" and .email == "casey@example.com"'
customer_id=$(field .id)
call POST /users/login "" '{"email": "casey@example.com", "password": "correct-horse-9"}'
expect_status 200
customer=$(field .token)

call POST /orders "$customer" "$(jq -nc --arg p "$product" '{items: [{product_id: $p, quantity: 2}]}')"
expect_status 201
check "the order is pending, 2 x 12.50 INR" --arg c "$customer_id" \
  '.status == "pending" and .total_amount == 25 and .currency == "INR" and .customer_id == $c'
order=$(field .id)
echo "ok: product $product, customer $customer_id, order $order"

# --- 2. order.created is recorded -------------------------------------------------------
call GET /audit "$admin"
expect_status 200
check "exactly one order.created for order $order" --arg o "$order" \
  '[.data[] | select(.event == "order.created" and .payload.order_id == $o)] | length == 1'
check "its payload names the customer, the total in paise and the line" \
  --arg o "$order" --arg c "$customer_id" --arg p "$product" \
  '.data[] | select(.event == "order.created" and .payload.order_id == $o) | .payload
   | .customer_id == $c and .status == "pending" and .total_amount == 2500 and .currency == "INR"
     and .items == [{product_id: $p, quantity: 2, unit_price: 1250}]'
check "each row has an integer id and a recorded_at" \
  'all(.data[]; (.id | type) == "number" and (.recorded_at | type) == "string")'
echo "ok: GET /audit shows order.created of $order"

# --- 3. admins only -----------------------------------------------------------------------
call GET /audit "$customer"
expect_status 403
check "a customer is refused with code forbidden" '.code == "forbidden"'
call GET /audit
expect_status 401
echo "ok: a customer gets 403 on /audit, no token 401"

# --- 4. ?event= --------------------------------------------------------------------------
call POST "/orders/$order/cancel" "$customer" '{"reason": "changed my mind"}'
expect_status 200
check "the order is cancelled" '.status == "cancelled"'

call GET "/audit?event=order.created" "$admin"
expect_status 200
check "?event=order.created is exactly this order's order.created" --arg o "$order" \
  '(.data | length) == 1 and .data[0].event == "order.created" and .data[0].payload.order_id == $o'
created_id=$(field '.data[0].id')
call GET "/audit?event=order.cancelled" "$admin"
expect_status 200
check "?event=order.cancelled is exactly this order's cancellation" --arg o "$order" \
  '(.data | length) == 1 and .data[0].event == "order.cancelled" and .data[0].payload.order_id == $o
   and .data[0].payload.from == "pending" and .data[0].payload.to == "cancelled"
   and .data[0].payload.reason == "changed my mind"'
cancelled_id=$(field '.data[0].id')
[ "$cancelled_id" -gt "$created_id" ] || fail "order.cancelled (row $cancelled_id) is not newer than order.created (row $created_id)"
call GET /audit "$admin"
expect_status 200
check "unfiltered, both rows are there, the cancellation first (newest first)" \
  --argjson a "$cancelled_id" --argjson b "$created_id" \
  '[.data[].id] as $ids | ($ids | index($a)) < ($ids | index($b)) and $ids == ($ids | sort | reverse)'
call GET "/audit?event=no.such.event" "$admin"
expect_status 200
check "an event nobody published returns nothing" '.data == [] and .next_cursor == null'
call GET "/audit?event=" "$admin"
expect_status 400
check "an empty event is refused" '.code == "invalid_parameter"'
echo "ok: ?event= filters (order.created row $created_id, order.cancelled row $cancelled_id)"

# --- 5. pages --------------------------------------------------------------------------
call GET "/audit?limit=1" "$admin"
expect_status 200
check "?limit=1 gives the newest row and a cursor" --argjson a "$cancelled_id" \
  '(.data | length) == 1 and .data[0].id == $a and (.next_cursor | type) == "string"'
cursor=$(field .next_cursor)
call GET "/audit?limit=1&cursor=$(jq -rn --arg c "$cursor" '$c | @uri')" "$admin"
expect_status 200
check "the next page is older" --argjson a "$cancelled_id" '(.data | length) == 1 and .data[0].id < $a'
echo "ok: keyset pages"

echo "PASS: audit records order events, serves them to admins only, filters by event and pages"
