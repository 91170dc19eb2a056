# Los textos del bot en español. Las claves y variables son las de en.ftl.

## Common

paused = Este servicio está en pausa en este momento. Vuelve a intentarlo más tarde.
something-went-wrong = Algo salió mal de nuestro lado. Vuelve a intentarlo en un minuto.
cancelled = Cancelado.
owners-only = Este comando es para los propietarios del proyecto. Primero vincula tu cuenta de Telegram desde el panel.
for-life = de por vida
until = hasta el { $at }

## Help and /start

help-head = Esto es lo que puedo hacer.
unknown-command = No conozco ese comando.
free-text-head = No he entendido eso.
help-body =
    /start — planes y cómo obtener acceso
    /my — tus suscripciones
    /help — este mensaje
help-codes = ¿Tienes un código de acceso? Envíalo aquí.
button-see-plans = Ver planes
button-my-subscriptions = Mis suscripciones
button-redeem = Canjear un código
button-buy = { $plan }: comprar por { $stars } ⭐
button-renew = Renovar por { $stars } ⭐
start-plans = Planes:
plan-free = gratis
plan-lifetime = de por vida
plan-days =
    { $days ->
        [one] { $days } día
       *[other] { $days } días
    }
plan-line = { $name } — { $price } / { $term }

## Redeeming a code

ask-for-code = Envíame tu código de acceso.
redeem-accepted = ✅ Código aceptado: «{ $plan }» { $term }.
redeem-extended = ✅ Código aceptado: tu suscripción «{ $plan }» se ha ampliado { $term }.
next-steps = Qué sigue: toca «Unirse» abajo y luego «Solicitar unirse»: se te admite automáticamente. Estos botones solo funcionan para ti.
see-my = Envía /my cuando quieras para ver tus suscripciones y tu acceso.
redeem-unknown = ❌ Ese código no existe. Revísalo y envíalo de nuevo.
redeem-expired = ⌛ Ese código ha caducado.
redeem-used-up = Ese código ya se ha usado tantas veces como permite.
redeem-already = Ya has canjeado este código.
redeem-plan-inactive = El plan de este código ya no está disponible.
redeem-codes-disabled = Aquí no se aceptan códigos de acceso en este momento.
redeem-too-many =
    Demasiados intentos fallidos. Vuelve a intentarlo en { $minutes ->
        [one] { $minutes } minuto
       *[other] { $minutes } minutos
    }.

button-join = Unirse a { $channel }

## /my

my-asked-too-often = Pediste tu lista hace un momento: está en mis respuestas de arriba. Envía /my de nuevo dentro de { $secs } segundos para una nueva.
my-none = Aún no tienes suscripciones aquí. Envía /start para ver los planes o canjear un código.
my-head = Tus suscripciones:
my-item = «{ $plan }» — { $state }
my-active = activa { $term }
my-renews-on = activa, se renueva el { $at }
my-ended = terminada
my-revoked = revocada
my-renews-monthly = Se renueva cada mes con Telegram Stars.
button-cancel-renewal = Cancelar renovación: { $plan }

## Telegram Stars

stars-disabled = Aquí no se aceptan pagos con Telegram Stars en este momento.
no-renewal = No hay ninguna renovación que cancelar. Envía /my para ver tus suscripciones.
renewal-cancelled = Renovación cancelada: tu suscripción «{ $plan }» sigue activa { $term } y luego termina.

## Reminders

reminder-renews = Tu suscripción «{ $plan }» se renueva el { $at } con Telegram Stars. No tienes que hacer nada; /my la muestra y te permite cancelar la renovación.
reminder-ends = Tu suscripción «{ $plan }» termina el { $at }. Canjea otro código o renueva para mantener tu acceso.

ended-use-buttons = Tu suscripción «{ $plan }» ha terminado y se ha retirado tu acceso. Para volver, usa un botón de abajo.
ended-send-start = Tu suscripción «{ $plan }» ha terminado y se ha retirado tu acceso. Envía /start para ver cómo volver.

## Payments and renewals

invoice-for-life = de por vida
invoice-for-days =
    { $days ->
        [one] durante { $days } día
       *[other] durante { $days } días
    }
invoice-description = Acceso a «{ $plan }» { $term } en { $project }.
invoice-monthly = «{ $plan }» — { $stars } ⭐ al mes. Telegram lo renueva cada 30 días hasta que lo canceles (/my).
button-subscribe = Suscribirse por { $stars } ⭐ / mes
refuse-forged = Esta factura no es válida. Envía /start para obtener una nueva.
refuse-used = Esta factura ya se pagó. Envía /start para obtener una nueva.
refuse-plan = Este plan ya no está disponible. Envía /start para ver los planes.
refuse-price = El precio de este plan ha cambiado. Envía /start para obtener una factura al precio actual.
paid = ✅ Pago recibido: «{ $plan }» { $term }.
paid-extended = ✅ Pago recibido: tu suscripción «{ $plan }» se ha ampliado { $term }.
paid-refused-refunded = El propietario de la comunidad terminó tu suscripción «{ $plan }», así que esta renovación no se cobró: las { $stars } ⭐ se han reembolsado y no se renovará más. Envía /start para ver los planes.
paid-refused-will-refund = El propietario de la comunidad terminó tu suscripción «{ $plan }», así que esta renovación no se cobró: las { $stars } ⭐ se reembolsarán y no se renovará más. Envía /start para ver los planes.
paid-no-link = No se pudo crear tu enlace de acceso ahora mismo: envía /my para obtenerlo.
renewal-on-again = 🔁 «{ $plan }» vuelve a renovarse con Telegram Stars: próxima renovación el { $day }. /my muestra tus suscripciones.
renewal-ended-by-creator = «{ $plan }» ya no se puede renovar: el creador terminó tu acceso. Envía /start para ver los planes.
renewal-off = «{ $plan }» no se renovará. Tu acceso dura hasta el { $day }. /my muestra tus suscripciones.
renewal-failed = ⚠️ Telegram no pudo cobrar la renovación de «{ $plan }». Tu acceso dura hasta el { $day }; renueva abajo o envía /start.

## Access withdrawn

ended-fallback = Tu suscripción ha terminado y se ha retirado tu acceso. Envía /start para ver cómo volver.
revoked-by-owner = El propietario de la comunidad ha revocado tu acceso.
revoked-refunded = Tu pago se ha reembolsado y se ha retirado tu acceso. Envía /start para ver los planes.
shortened-refunded = Se ha reembolsado uno de tus pagos.
shortened-code-withdrawn = El propietario de la comunidad ha retirado un código de acceso que canjeaste.
shortened-ends-on = { $reason } Tu suscripción «{ $plan }» ahora termina el { $at }.
shortened-for-life = { $reason } Tu suscripción «{ $plan }» sigue siendo de por vida.

## Owners

owner-link-invalid = Este enlace de propietario es desconocido, ha caducado o ya se usó. Crea uno nuevo en el panel.
owner-linked =
    Listo: esta cuenta de Telegram ahora es propietaria de «{ $project }».
    Comandos de propietario: /codes, /code <CÓDIGO> (o simplemente envía un código), /members, /newcode
codes-counts =
    Códigos de acceso
    Sin canjear: { $unredeemed }
    Canjeados: { $redeemed }
    Caducados: { $expired }
members-head = Miembros activos por plan
members-no-plans = Aún no hay planes.
members-plan = • { $plan }: { $count }
members-latest = Últimas activaciones
members-none = Ninguna todavía.
members-activation = • { $who } — { $plan } — { $at }
members-activation-code = • { $who } — { $plan } (código { $code }) — { $at }
owner-new-activation = Nueva activación: { $who } canjeó el código { $code } para «{ $plan }».
owner-new-payment = Nuevo pago: { $who } compró «{ $plan }» por { $stars } ⭐.
owner-new-renewal = Nuevo pago: { $who } renovó «{ $plan }» por { $stars } ⭐.

## Owner code tools

button-cancel = Cancelar
oc-ask-code = Envía /code seguido del código, p. ej. /code ABCD-EFGH-JKMN, o simplemente envía el código.
oc-not-found = No hay ningún código así en este proyecto (puede que se haya eliminado o purgado). Envía otro código, o /codes para ver los recuentos.
oc-gone = Ese código ya no existe (ya se eliminó o se revirtió). Envía otro código, o /codes.
oc-role-refused = Tu rol en el equipo no puede eliminar ni revertir códigos. Pídeselo a un administrador de la cuenta, o envía otro código para consultarlo.
oc-now-redeemed = Ese código se canjeó mientras tanto, así que se conserva para los informes. Reviértelo en su lugar:
oc-kept = No ha cambiado nada. Envía otro código para consultarlo.
oc-state-unredeemed = sin canjear
oc-state-redeemed = canjeado
oc-state-expired = caducado
oc-never = nunca
oc-show =
    Código { $code }
    Plan: { $plan }
    Estado: { $state }
    Activaciones: { $used } de { $max }
    Caduca: { $expires }
oc-redeemed-by = Canjeado por:
oc-button-roll-back = ↩️ Revertir…
oc-button-delete = 🗑 Eliminar…
oc-button-yes-delete = Sí, eliminarlo
oc-button-yes-roll-back = Sí, revertirlo
oc-confirm-delete = ¿Eliminar el código { $code }? Ya no se podrá canjear; no se puede deshacer.
oc-confirm-roll-back = ¿Revertir el código { $code }? Se eliminan sus { $count } activaciones: cada suscriptor pierde el tiempo que le dio (el acceso termina si no queda nada más).
oc-deleted = 🗑 Código eliminado. Envía otro código para consultarlo.
oc-rolled-back = ↩️ Código { $code } revertido: { $removed } activaciones eliminadas, { $ended } suscripciones terminadas, { $shortened } acortadas. Envía otro código para consultarlo.

## /newcode

nc-no-plans = Este proyecto no tiene planes activos. Crea uno primero en el panel.
nc-which-plan = Nuevos códigos de acceso: ¿para qué plan? (/cancel para parar)
nc-ask-quantity =
    Plan: { $plan }
    ¿Cuántos códigos? Elige uno o envía un número del 1 al 1000.
nc-ask-other-quantity = Envía cuántos códigos generar: un número del 1 al 1000 (o /cancel).
nc-bad-quantity = Eso no es un número del 1 al 1000. Envía cuántos códigos generar (o /cancel).
nc-button-other = Otro
nc-ask-expiry = ¿Cuándo deben caducar los códigos sin usar? Elige una opción o envía un número de días o una fecha (AAAA-MM-DD).
nc-button-no-expiry = Sin caducidad
nc-button-day = 1 día
nc-button-week = 1 semana
nc-button-month = 1 mes
nc-button-year = 1 año
nc-expiry-in-past = Esa fecha no está en el futuro. Envía una fecha posterior como 2027-01-31, un número de días o elige una caducidad con los botones (o /cancel).
nc-expiry-passed = ❌ No generados: la fecha de caducidad ya ha pasado. Envía /newcode para empezar de nuevo.
nc-bad-days = Elige una caducidad con los botones, o envía un número de días del 1 al 36500 o una fecha como 2027-01-31 (o /cancel).
nc-ask-activations = ¿Cuántas veces se puede canjear cada código? Envía un número del 1 al 1000000.
nc-bad-activations = Eso no es un número del 1 al 1000000. Envía cuántas activaciones permite cada código (o /cancel).
nc-pick-button = Usa los botones de arriba (o /cancel).
nc-expiry-never = nunca
nc-expiry-after-days =
    { $days ->
        [one] después de { $days } día
       *[other] después de { $days } días
    }
nc-expiry-after-week = después de 1 semana
nc-expiry-after-month = después de 1 mes
nc-expiry-after-year = después de 1 año
nc-expiry-at-end-of = al final del { $date } (UTC)
nc-fee-none = ninguna
nc-preview =
    Vista previa
    Plan: { $plan }
    Códigos: { $quantity }
    Caducidad: { $expiry }
    Activaciones por código: { $activations }
    Códigos gratis restantes en este ciclo: { $free_left }
    Gratis: { $free } · Excedente: { $overage }
    Tarifa: { $fee }

    ¿Generar estos códigos?
nc-button-confirm = ✅ Confirmar
nc-button-activations = Cambiar activaciones por código
nc-generating = ✅ Confirmado: los códigos se están generando y se enviarán a este chat.
nc-refused-quota = ❌ No generados: al plan Free le quedan { $left } códigos gratis en este ciclo. Envía /newcode con una cantidad menor o mejora tu plan en el panel.
nc-refused-plan-inactive = ❌ No generados: ese plan ya no está activo.
nc-refused-suspended = ❌ No generados: esta cuenta está suspendida.
nc-refused-past-due = ❌ No generados: hay un pago vencido. Actualiza tu método de pago en el panel.
nc-refused-codes-off = ❌ No generados: los códigos de acceso están desactivados en este proyecto.

## Command menus

cmd-start = Planes y cómo obtener acceso
cmd-my = Tus suscripciones
cmd-help = Qué puede hacer este bot
cmd-codes = Recuento de códigos por estado
cmd-code = Consultar, eliminar o revertir un código
cmd-members = Miembros recientes
cmd-newcode = Generar códigos de acceso
cmd-cancel = Detener lo que está en curso

## Notices to owners

batch-code =
    Código de acceso para «{ $plan }»: { $code }
    Canjear: { $link }
batch-file = { $count } códigos de acceso para «{ $plan }»
webhook-failing = ⚠️ Tu endpoint de webhook { $url } está fallando: un evento no se ha podido entregar durante 24 horas. Revisa el endpoint y reintenta desde la página Webhooks del panel.

## Welcome and free trials

welcome-default = ¡Bienvenido! Elige un plan abajo o canjea un código de acceso.
welcome-nothing-sold = ¡Bienvenido!
how-to-get-access = Cómo obtener acceso: { $how }
how-with-codes = pide al creador un código de acceso, luego pulsa «Canjear un código» abajo y envíalo.
how-without-anything = en este momento este bot no ofrece nada; pregunta al creador. Envía /start más tarde.
button-try-free =
    { $plan }: prueba gratis { $days ->
        [one] { $days } día
       *[other] { $days } días
    }
button-buy-for = Comprar por { $stars } ⭐
button-out-of-date = Ese botón está desactualizado. Envía /start para ver los planes.
trial-started = 🎁 Tu prueba gratuita de «{ $plan }» ha comenzado: dura { $term }.
trial-used = Ya usaste tu prueba gratuita aquí. Compra un plan o canjea un código para obtener acceso:
trial-already-subscribed = Ya tienes este plan: /my muestra tu acceso.
trial-not-offered = Este plan ya no ofrece prueba gratuita. Esto es lo que ofrece ahora:
reminder-trial-ends = Tu prueba gratuita de «{ $plan }» termina el { $at }. Compra el plan para mantener tu acceso: el tiempo pagado empieza cuando termina la prueba.
ended-trial-use-buttons = Tu prueba gratuita de «{ $plan }» ha terminado y se ha retirado tu acceso. Para seguir, usa un botón de abajo.

## Códigos promocionales

button-have-promo = 🏷 Tengo un código promocional
ask-for-promo = Envíame tu código promocional, o /cancel.
promo-applied = 🏷 Código promocional { $code }: { $off } de descuento. Elige un plan abajo:
promo-off-percent = { $percent } %
promo-off-stars = { $stars } ⭐
button-buy-promo = { $plan }: Comprar por { $stars } ⭐ (en vez de { $list } ⭐)
button-buy-for-promo = Comprar por { $stars } ⭐ con { $code }
invoice-promo = { $code }: { $stars } ⭐ en vez de { $list } ⭐.
promo-unknown = No conozco ese código promocional. Revisa cómo está escrito y envíalo de nuevo, o envía /start para ver los planes.
promo-not-started = Este código promocional aún no es válido. Envía /start para ver los planes a su precio normal.
promo-expired = Este código promocional ha terminado. Envía /start para ver los planes a su precio normal.
promo-exhausted = Este código promocional ya se usó todas las veces que permite. Envía /start para ver los planes a su precio normal.
promo-wrong-plan = Este código promocional no se aplica a este plan. Envía /start para ver los planes.
promo-already-used = Ya usaste este código promocional. Envía /start para ver los planes a su precio normal.
promo-new-customers-only = Este código promocional es solo para clientes nuevos. Envía /start para ver los planes a su precio normal.
retention-offer = Antes de irte: conserva «{ $plan }» por { $stars } ⭐ al mes en vez de { $list } ⭐ con el código promocional { $code }.
button-stay-for = Quedarme por { $stars } ⭐ al mes
button-cancel-anyway = Cancelar la renovación de todos modos
retention-accepted = Tu renovación a { $list } ⭐ está cancelada y tu acceso sigue { $term }. Suscríbete al nuevo precio abajo: el tiempo que pagues se suma al que tienes.
