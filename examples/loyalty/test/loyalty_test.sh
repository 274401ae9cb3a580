#!/usr/bin/env bash
# shellcheck disable=SC2016  # the single-quoted $names below are jq variables
# The loyalty plugin against a real oms-host with the stock users, inventory,
# orders and payments (simulated gateway) plugins, over HTTP. Run by `ctest`
# (oms_add_plugin_test in ../CMakeLists.txt). Needs curl and jq.
#
#   1. a customer orders 2 × 12.50 INR and pays (the simulated capture):
#      order.paid reaches loyalty after commit → 25 points, one entry
#   2. an admin paying for themselves earns none (users.get says admin)
#   3. the admin refunds the customer's payment: order.refunded → the 25
#      points are taken back (balance 0, two entries)
#   4. no token → 401
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
expect_status() { [ "$STATUS" = "$1" ] || fail "$LAST answered $STATUS, not $1: $BODY"; }
check() {   # check WHAT FILTER: FILTER must hold on BODY
  jq -e "$2" >/dev/null <<<"$BODY" || fail "$LAST: $1; the body: $BODY"
}
field() { jq -r "$1" <<<"$BODY"; }

# points_become TOKEN N: polls GET /loyalty/points until the balance is N
# (deliveries after commit are asynchronous), at most 15 s.
points_become() {
  local token=$1 want=$2 i
  for i in $(seq 1 150); do
    call GET /loyalty/points "$token"
    expect_status 200
    [ "$(field .balance)" = "$want" ] && return 0
    sleep 0.1
  done
  fail "the balance stayed $(field .balance), not $want, for 15 s (try $i): $BODY"
}

# order_and_pay TOKEN: places an order of 2 units and captures its payment; sets ORDER and PAYMENT.
order_and_pay() {
  local token=$1
  call POST /orders "$token" "$(jq -nc --arg p "$product" '{items: [{product_id: $p, quantity: 2}]}')"
  expect_status 201
  ORDER=$(field .id)
  call POST /payments "$token" "$(jq -nc --arg o "$ORDER" '{order_id: $o}')"
  expect_status 201
  PAYMENT=$(field .id)
  call POST "/payments/$PAYMENT/simulate" "$token" '{"outcome": "captured"}'
  expect_status 200
  check "the payment is captured" '.status == "captured"'
  call GET "/orders/$ORDER" "$token"
  check "the order is paid" '.status == "paid"'
}

call POST /users/login "" "$(jq -nc --arg e "$OMS_ADMIN_EMAIL" --arg p "$OMS_ADMIN_PASSWORD" '{email: $e, password: $p}')"
expect_status 200
admin=$(field .token)
call POST /inventory "$admin" '{"sku": "LOYAL-1", "name": "Loyal lamp", "price": 12.5, "currency": "INR", "on_hand": 10}'
expect_status 201
product=$(field .product_id)

email="loyal-$$-$RANDOM@example.com"
call POST /users/create "" "$(jq -nc --arg e "$email" '{name: "Lola", email: $e, password: "correct horse battery"}')"
expect_status 201
customer_id=$(field .id)
call POST /users/login "" "$(jq -nc --arg e "$email" '{email: $e, password: "correct horse battery"}')"
expect_status 200
customer=$(field .token)

# --- 1. a paid order earns points ------------------------------------------------
call GET /loyalty/points "$customer"
expect_status 200
check "a new customer has nothing" '.balance == 0 and .entries == []'
order_and_pay "$customer"
paid_order=$ORDER
paid_payment=$PAYMENT
points_become "$customer" 25
check "one earned entry for that order" \
  "$(printf '.customer_id == "%s" and (.entries | length) == 1 and .entries[0].kind == "earned" and .entries[0].points == 25 and .entries[0].order_id == "%s"' "$customer_id" "$paid_order")"

# --- 2. staff earn nothing ----------------------------------------------------------
order_and_pay "$admin"
admin_order=$ORDER
# The admin's delivery is in order behind nothing of theirs; give it time to run, then look.
sleep 1
call GET /loyalty/points "$admin"
expect_status 200
check "the admin earned nothing for $admin_order" '.balance == 0 and .entries == []'

# --- 3. a refund takes the points back ------------------------------------------------
call POST "/payments/$paid_payment/refund" "$admin" '{}'
expect_status 201
points_become "$customer" 0
check "an earned and a reversed entry" \
  '(.entries | length) == 2 and .entries[0].kind == "reversed" and .entries[0].points == -25 and .entries[1].kind == "earned"'
call GET "/orders/$paid_order" "$customer"
check "the order is refunded" '.status == "refunded"'

# --- 4. the route needs a token ----------------------------------------------------------
call GET /loyalty/points
expect_status 401

echo "PASS: loyalty points earned after commit, none for staff, taken back on refund"
