# The bot's texts in English. Every other language has exactly these keys and uses only
# these variables (a domain test checks it). Dates arrive formatted.

## Common

paused = This service is paused at the moment. Please try again later.
something-went-wrong = Something went wrong on our side. Please try again in a minute.
cancelled = Cancelled.
owners-only = This command is for the project's owners. Link your Telegram account from the dashboard first.
for-life = for life
until = until { $at }

## Help and /start

help-head = Here is what I can do.
unknown-command = I don't know that command.
free-text-head = I didn't understand that.
help-body =
    /start — plans and how to get access
    /my — your subscriptions
    /help — this message
help-codes = Have an access code? Just send it here.
button-see-plans = See plans
button-my-subscriptions = My subscriptions
button-redeem = Redeem a code
button-buy = { $plan }: Buy for { $stars } ⭐
button-renew = Renew for { $stars } ⭐
start-plans = Plans:
plan-free = free
plan-lifetime = lifetime
plan-days =
    { $days ->
        [one] { $days } day
       *[other] { $days } days
    }
plan-line = { $name } — { $price } / { $term }

## Redeeming a code

ask-for-code = Send me your access code.
redeem-accepted = ✅ Code accepted: “{ $plan }” { $term }.
redeem-extended = ✅ Code accepted: your “{ $plan }” subscription is extended { $term }.
next-steps = What happens next: tap Join below, then Request to join — you are let in automatically. These buttons work for you only.
see-my = Send /my any time to see your subscriptions and access.
redeem-unknown = ❌ That code doesn't exist. Check it and send it again.
redeem-expired = ⌛ That code has expired.
redeem-used-up = That code has already been used as many times as it allows.
redeem-already = You have already redeemed this code.
redeem-plan-inactive = The plan this code was for is no longer available.
redeem-codes-disabled = Access codes are not accepted here at the moment.
redeem-too-many = Too many failed attempts. Try again in { $minutes } minute(s).

button-join = Join { $channel }

## /my

my-asked-too-often = You asked for your list a moment ago: it is in my answers above. Send /my again in { $secs } seconds for a fresh one.
my-none = You have no subscriptions here yet. Send /start to see the plans or redeem a code.
my-head = Your subscriptions:
my-item = “{ $plan }” — { $state }
my-active = active { $term }
my-renews-on = active, renews on { $at }
my-ended = ended
my-revoked = revoked
my-renews-monthly = Renews monthly with Telegram Stars.
button-cancel-renewal = Cancel renewal: { $plan }

## Telegram Stars

stars-disabled = Payments with Telegram Stars are not accepted here at the moment.
no-renewal = There is no renewal to cancel. Send /my to see your subscriptions.
renewal-cancelled = Renewal cancelled: your “{ $plan }” subscription stays active { $term } and then ends.

## Reminders

reminder-renews = Your “{ $plan }” subscription renews on { $at } with Telegram Stars. Nothing to do; /my shows it and lets you cancel the renewal.
reminder-ends = Your “{ $plan }” subscription ends on { $at }. Redeem another code or renew to keep your access.

ended-use-buttons = Your “{ $plan }” subscription has ended and your access was removed. To come back, use a button below.
ended-send-start = Your “{ $plan }” subscription has ended and your access was removed. Send /start to see how to come back.

## Payments and renewals

invoice-for-life = for life
invoice-for-days =
    { $days ->
        [one] for { $days } day
       *[other] for { $days } days
    }
invoice-description = Access to “{ $plan }” { $term } in { $project }.
invoice-monthly = “{ $plan }” — { $stars } ⭐ a month. Telegram renews it every 30 days until you cancel (/my).
button-subscribe = Subscribe for { $stars } ⭐ / month
refuse-forged = This invoice is not valid. Send /start for a new one.
refuse-used = This invoice was already paid. Send /start for a new one.
refuse-plan = This plan is no longer available. Send /start to see the plans.
refuse-price = The price of this plan has changed. Send /start for an invoice at the current price.
paid = ✅ Payment received: “{ $plan }” { $term }.
paid-extended = ✅ Payment received: your “{ $plan }” subscription is extended { $term }.
paid-refused-refunded = Your “{ $plan }” subscription was ended by the community's owner, so this renewal was not taken: the { $stars } ⭐ are refunded and it will not renew again. Send /start to see the plans.
paid-refused-will-refund = Your “{ $plan }” subscription was ended by the community's owner, so this renewal was not taken: the { $stars } ⭐ will be refunded and it will not renew again. Send /start to see the plans.
paid-no-link = Your access link could not be made just now: send /my to get it.
renewal-on-again = 🔁 “{ $plan }” renews again with Telegram Stars: next renewal on { $day }. /my shows your subscriptions.
renewal-ended-by-creator = “{ $plan }” can no longer be renewed: your access was ended by the creator. Send /start to see the plans.
renewal-off = “{ $plan }” will not renew. Your access lasts until { $day }. /my shows your subscriptions.
renewal-failed = ⚠️ Telegram could not charge the renewal of “{ $plan }”. Your access lasts until { $day }; renew below or send /start.

## Access withdrawn

ended-fallback = Your subscription has ended and your access was removed. Send /start to see how to come back.
revoked-by-owner = Your access was revoked by the community's owner.
revoked-refunded = Your payment was refunded and your access removed. Send /start to see the plans.
shortened-refunded = A payment of yours was refunded.
shortened-code-withdrawn = An access code you redeemed was withdrawn by the community's owner.
shortened-ends-on = { $reason } Your “{ $plan }” subscription now ends on { $at }.
shortened-for-life = { $reason } Your “{ $plan }” subscription stays for life.

## Owners

owner-link-invalid = This owner link is unknown, expired or already used. Create a new one in the dashboard.
owner-linked =
    Done: this Telegram account is now an owner of “{ $project }”.
    Owner commands: /codes, /code <CODE> (or just send a code), /members, /newcode
codes-counts =
    Access codes
    Unredeemed: { $unredeemed }
    Redeemed: { $redeemed }
    Expired: { $expired }
members-head = Active members by plan
members-no-plans = No plans yet.
members-plan = • { $plan }: { $count }
members-latest = Latest activations
members-none = None yet.
members-activation = • { $who } — { $plan } — { $at }
members-activation-code = • { $who } — { $plan } (code { $code }) — { $at }
owner-new-activation = New activation: { $who } redeemed code { $code } for “{ $plan }”.
owner-new-payment = New payment: { $who } bought “{ $plan }” for { $stars } ⭐.
owner-new-renewal = New payment: { $who } renewed “{ $plan }” for { $stars } ⭐.

## Owner code tools

button-cancel = Cancel
oc-ask-code = Send /code followed by the code, e.g. /code ABCD-EFGH-JKMN, or just send the code.
oc-not-found = There is no such code in this project (it may have been deleted or purged). Send another code, or /codes for the counts.
oc-gone = That code no longer exists (deleted or rolled back already). Send another code, or /codes.
oc-role-refused = Your role in the team cannot delete or roll back codes. Ask an admin of the account, or send another code to look it up.
oc-now-redeemed = That code has been redeemed in the meantime, so it stays for reporting. Roll it back instead:
oc-kept = Nothing changed. Send another code to look it up.
oc-state-unredeemed = unredeemed
oc-state-redeemed = redeemed
oc-state-expired = expired
oc-never = never
oc-show =
    Code { $code }
    Plan: { $plan }
    State: { $state }
    Activations: { $used } of { $max }
    Expires: { $expires }
oc-redeemed-by = Redeemed by:
oc-button-roll-back = ↩️ Roll back…
oc-button-delete = 🗑 Delete…
oc-button-yes-delete = Yes, delete it
oc-button-yes-roll-back = Yes, roll it back
oc-confirm-delete = Delete code { $code }? It can no longer be redeemed; this cannot be undone.
oc-confirm-roll-back = Roll back code { $code }? Its { $count } activation(s) are removed: each subscriber loses the time it granted (access ends where nothing else remains).
oc-deleted = 🗑 Code deleted. Send another code to look it up.
oc-rolled-back = ↩️ Code { $code } rolled back: { $removed } activation(s) removed, { $ended } subscription(s) ended, { $shortened } shortened. Send another code to look it up.

## /newcode

nc-no-plans = This project has no active plans. Create one in the dashboard first.
nc-which-plan = New access codes: which plan? (/cancel to stop)
nc-ask-quantity =
    Plan: { $plan }
    How many codes? Pick one, or send a number from 1 to 1000.
nc-ask-other-quantity = Send how many codes to generate: a number from 1 to 1000 (or /cancel).
nc-bad-quantity = That is not a number from 1 to 1000. Send how many codes to generate (or /cancel).
nc-button-other = Other
nc-ask-expiry = When should unused codes expire? Pick one, or send a number of days or a date (YYYY-MM-DD).
nc-button-no-expiry = No expiry
nc-button-day = 1 day
nc-button-week = 1 week
nc-button-month = 1 month
nc-button-year = 1 year
nc-expiry-in-past = That date is not in the future. Send a later date like 2027-01-31, a number of days, or pick an expiry with the buttons (or /cancel).
nc-expiry-passed = ❌ Not generated: the expiry date has passed in the meantime. Send /newcode to start again.
nc-bad-days = Pick an expiry with the buttons, or send a number of days from 1 to 36500 or a date like 2027-01-31 (or /cancel).
nc-ask-activations = How many times may each code be redeemed? Send a number from 1 to 1000000.
nc-bad-activations = That is not a number from 1 to 1000000. Send how many activations each code allows (or /cancel).
nc-pick-button = Please use the buttons above (or /cancel).
nc-expiry-never = never
nc-expiry-after-days =
    { $days ->
        [one] after { $days } day
       *[other] after { $days } days
    }
nc-expiry-after-week = after 1 week
nc-expiry-after-month = after 1 month
nc-expiry-after-year = after 1 year
nc-expiry-at-end-of = at the end of { $date } (UTC)
nc-fee-none = none
nc-preview =
    Preview
    Plan: { $plan }
    Codes: { $quantity }
    Expiry: { $expiry }
    Activations per code: { $activations }
    Free codes left this cycle: { $free_left }
    Free: { $free } · Overage: { $overage }
    Fee: { $fee }

    Generate these codes?
nc-button-confirm = ✅ Confirm
nc-button-activations = Change activations per code
nc-generating = ✅ Confirmed: the codes are being generated and will be sent to this chat.
nc-refused-quota = ❌ Not generated: the Free plan has { $left } free code(s) left this cycle. Send /newcode with a smaller quantity, or upgrade in the dashboard.
nc-refused-plan-inactive = ❌ Not generated: that plan is no longer active.
nc-refused-suspended = ❌ Not generated: this account is suspended.
nc-refused-past-due = ❌ Not generated: a payment is past due. Update your payment method in the dashboard.
nc-refused-codes-off = ❌ Not generated: access codes are turned off for this project.

## Command menus

cmd-start = Plans and how to get access
cmd-my = Your subscriptions
cmd-help = What this bot can do
cmd-codes = Code counts by status
cmd-code = Look up, delete or roll back a code
cmd-members = Recent members
cmd-newcode = Generate access codes
cmd-cancel = Stop what is under way

## Notices to owners

batch-code =
    Access code for “{ $plan }”: { $code }
    Redeem: { $link }
batch-file = { $count } access codes for “{ $plan }”
webhook-failing = ⚠️ Your webhook endpoint { $url } is failing: an event could not be delivered for 24 hours. Check the endpoint, then retry from the dashboard's Webhooks page.

## Welcome and free trials

welcome-default = Welcome! Pick a plan below, or redeem an access code.
welcome-nothing-sold = Welcome!
how-to-get-access = How to get access: { $how }
how-with-codes = ask the creator for an access code, then press “Redeem a code” below and send it.
how-without-anything = nothing is offered in this bot at the moment; ask the creator. Send /start again later.
button-try-free = { $plan }: Try free for { $days ->
        [one] { $days } day
       *[other] { $days } days
    }
button-buy-for = Buy for { $stars } ⭐
button-out-of-date = That button is out of date. Send /start for the plans.
trial-started = 🎁 Your free trial of “{ $plan }” has started: it runs { $term }.
trial-used = You have had your free trial here already. Buy a plan or redeem a code to get access:
trial-already-subscribed = You already have this plan: /my shows your access.
trial-not-offered = This plan offers no free trial any more. Here is what it offers now:
reminder-trial-ends = Your free trial of “{ $plan }” ends on { $at }. Buy the plan to keep your access: the paid time starts when the trial ends.
ended-trial-use-buttons = Your free trial of “{ $plan }” has ended and your access was removed. To keep going, use a button below.

## Promo codes

button-have-promo = 🏷 I have a promo code
ask-for-promo = Send me your promo code, or /cancel.
promo-applied = 🏷 Promo code { $code }: { $off } off. Pick a plan below:
promo-off-percent = { $percent } %
promo-off-stars = { $stars } ⭐
button-buy-promo = { $plan }: Buy for { $stars } ⭐ (instead of { $list } ⭐)
button-buy-for-promo = Buy for { $stars } ⭐ with { $code }
invoice-promo = { $code }: { $stars } ⭐ instead of { $list } ⭐.
promo-unknown = I don't know that promo code. Check its spelling and send it again, or send /start for the plans.
promo-not-started = This promo code is not valid yet. Send /start for the plans at their usual price.
promo-expired = This promo code has ended. Send /start for the plans at their usual price.
promo-exhausted = This promo code has been used as many times as it allows. Send /start for the plans at their usual price.
promo-wrong-plan = This promo code does not apply to this plan. Send /start to see the plans.
promo-already-used = You have used this promo code already. Send /start for the plans at their usual price.
promo-new-customers-only = This promo code is for new customers only. Send /start for the plans at their usual price.
retention-offer = Before you go: keep “{ $plan }” for { $stars } ⭐ a month instead of { $list } ⭐ with the promo code { $code }.
button-stay-for = Stay for { $stars } ⭐ a month
button-cancel-anyway = Cancel renewal anyway
retention-accepted = Your renewal at { $list } ⭐ is cancelled and your access runs { $term }. Subscribe at the new price below: the time you pay for is added to what you have.
