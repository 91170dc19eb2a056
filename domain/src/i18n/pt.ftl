# Os textos do bot em português. As chaves e variáveis são as de en.ftl.

## Common

paused = Este serviço está pausado no momento. Tente novamente mais tarde.
something-went-wrong = Algo deu errado do nosso lado. Tente novamente em um minuto.
cancelled = Cancelado.
owners-only = Este comando é para os donos do projeto. Primeiro vincule sua conta do Telegram pelo painel.
for-life = vitalício
until = até { $at }

## Help and /start

help-head = Veja o que eu posso fazer.
unknown-command = Não conheço esse comando.
free-text-head = Não entendi isso.
help-body =
    /start — planos e como obter acesso
    /my — suas assinaturas
    /help — esta mensagem
help-codes = Tem um código de acesso? É só enviá-lo aqui.
button-see-plans = Ver planos
button-my-subscriptions = Minhas assinaturas
button-redeem = Resgatar um código
button-buy = { $plan }: comprar por { $stars } ⭐
button-renew = Renovar por { $stars } ⭐
start-plans = Planos:
plan-free = grátis
plan-lifetime = vitalício
plan-days =
    { $days ->
        [one] { $days } dia
       *[other] { $days } dias
    }
plan-line = { $name } — { $price } / { $term }

## Redeeming a code

ask-for-code = Envie-me seu código de acesso.
redeem-accepted = ✅ Código aceito: “{ $plan }” { $term }.
redeem-extended = ✅ Código aceito: sua assinatura “{ $plan }” foi estendida { $term }.
next-steps = O que acontece agora: toque em “Entrar” abaixo e depois em “Pedir para entrar” — você é admitido automaticamente. Estes botões funcionam só para você.
see-my = Envie /my a qualquer momento para ver suas assinaturas e seu acesso.
redeem-unknown = ❌ Esse código não existe. Confira e envie novamente.
redeem-expired = ⌛ Esse código expirou.
redeem-used-up = Esse código já foi usado tantas vezes quanto permite.
redeem-already = Você já resgatou este código.
redeem-plan-inactive = O plano deste código não está mais disponível.
redeem-codes-disabled = Códigos de acesso não são aceitos aqui no momento.
redeem-too-many =
    Tentativas malsucedidas demais. Tente novamente em { $minutes ->
        [one] { $minutes } minuto
       *[other] { $minutes } minutos
    }.

button-join = Entrar em { $channel }

## /my

my-asked-too-often = Você pediu sua lista agora há pouco: ela está nas minhas respostas acima. Envie /my de novo em { $secs } segundos para uma nova.
my-none = Você ainda não tem assinaturas aqui. Envie /start para ver os planos ou resgatar um código.
my-head = Suas assinaturas:
my-item = “{ $plan }” — { $state }
my-active = ativa { $term }
my-renews-on = ativa, renova em { $at }
my-ended = encerrada
my-revoked = revogada
my-renews-monthly = Renova todo mês com Telegram Stars.
button-cancel-renewal = Cancelar renovação: { $plan }

## Telegram Stars

stars-disabled = Pagamentos com Telegram Stars não são aceitos aqui no momento.
no-renewal = Não há renovação para cancelar. Envie /my para ver suas assinaturas.
renewal-cancelled = Renovação cancelada: sua assinatura “{ $plan }” continua ativa { $term } e depois termina.

## Reminders

reminder-renews = Sua assinatura “{ $plan }” renova em { $at } com Telegram Stars. Nada a fazer; /my mostra a assinatura e permite cancelar a renovação.
reminder-ends = Sua assinatura “{ $plan }” termina em { $at }. Resgate outro código ou renove para manter seu acesso.

ended-use-buttons = Sua assinatura “{ $plan }” terminou e seu acesso foi removido. Para voltar, use um botão abaixo.
ended-send-start = Sua assinatura “{ $plan }” terminou e seu acesso foi removido. Envie /start para ver como voltar.

## Payments and renewals

invoice-for-life = vitalício
invoice-for-days =
    { $days ->
        [one] por { $days } dia
       *[other] por { $days } dias
    }
invoice-description = Acesso a “{ $plan }” { $term } em { $project }.
invoice-monthly = “{ $plan }” — { $stars } ⭐ por mês. O Telegram renova a cada 30 dias até você cancelar (/my).
button-subscribe = Assinar por { $stars } ⭐ / mês
refuse-forged = Esta fatura não é válida. Envie /start para obter uma nova.
refuse-used = Esta fatura já foi paga. Envie /start para obter uma nova.
refuse-plan = Este plano não está mais disponível. Envie /start para ver os planos.
refuse-price = O preço deste plano mudou. Envie /start para obter uma fatura com o preço atual.
paid = ✅ Pagamento recebido: “{ $plan }” { $term }.
paid-extended = ✅ Pagamento recebido: sua assinatura “{ $plan }” foi estendida { $term }.
paid-refused-refunded = Sua assinatura “{ $plan }” foi encerrada pelo dono da comunidade, então esta renovação não foi cobrada: as { $stars } ⭐ foram reembolsadas e ela não será mais renovada. Envie /start para ver os planos.
paid-refused-will-refund = Sua assinatura “{ $plan }” foi encerrada pelo dono da comunidade, então esta renovação não foi cobrada: as { $stars } ⭐ serão reembolsadas e ela não será mais renovada. Envie /start para ver os planos.
paid-no-link = Não foi possível criar seu link de acesso agora: envie /my para obtê-lo.
renewal-on-again = 🔁 “{ $plan }” volta a renovar com Telegram Stars: próxima renovação em { $day }. /my mostra suas assinaturas.
renewal-ended-by-creator = “{ $plan }” não pode mais ser renovada: seu acesso foi encerrado pelo criador. Envie /start para ver os planos.
renewal-off = “{ $plan }” não será renovada. Seu acesso vale até { $day }. /my mostra suas assinaturas.
renewal-failed = ⚠️ O Telegram não conseguiu cobrar a renovação de “{ $plan }”. Seu acesso vale até { $day }; renove abaixo ou envie /start.

## Access withdrawn

ended-fallback = Sua assinatura terminou e seu acesso foi removido. Envie /start para ver como voltar.
revoked-by-owner = Seu acesso foi revogado pelo dono da comunidade.
revoked-refunded = Seu pagamento foi reembolsado e seu acesso removido. Envie /start para ver os planos.
shortened-refunded = Um pagamento seu foi reembolsado.
shortened-code-withdrawn = Um código de acesso que você resgatou foi retirado pelo dono da comunidade.
shortened-ends-on = { $reason } Sua assinatura “{ $plan }” agora termina em { $at }.
shortened-for-life = { $reason } Sua assinatura “{ $plan }” continua vitalícia.

## Owners

owner-link-invalid = Este link de dono é desconhecido, expirou ou já foi usado. Crie um novo no painel.
owner-linked =
    Pronto: esta conta do Telegram agora é dona de “{ $project }”.
    Comandos de dono: /codes, /code <CÓDIGO> (ou simplesmente envie um código), /members, /newcode
codes-counts =
    Códigos de acesso
    Não resgatados: { $unredeemed }
    Resgatados: { $redeemed }
    Expirados: { $expired }
members-head = Membros ativos por plano
members-no-plans = Ainda não há planos.
members-plan = • { $plan }: { $count }
members-latest = Últimas ativações
members-none = Nenhuma ainda.
members-activation = • { $who } — { $plan } — { $at }
members-activation-code = • { $who } — { $plan } (código { $code }) — { $at }
owner-new-activation = Nova ativação: { $who } resgatou o código { $code } para “{ $plan }”.
owner-new-payment = Novo pagamento: { $who } comprou “{ $plan }” por { $stars } ⭐.
owner-new-renewal = Novo pagamento: { $who } renovou “{ $plan }” por { $stars } ⭐.

## Owner code tools

button-cancel = Cancelar
oc-ask-code = Envie /code seguido do código, p. ex. /code ABCD-EFGH-JKMN, ou simplesmente envie o código.
oc-not-found = Não há esse código neste projeto (ele pode ter sido excluído ou expurgado). Envie outro código, ou /codes para ver as contagens.
oc-gone = Esse código não existe mais (já foi excluído ou revertido). Envie outro código, ou /codes.
oc-role-refused = Sua função na equipe não pode excluir nem reverter códigos. Peça a um administrador da conta, ou envie outro código para consultá-lo.
oc-now-redeemed = Esse código foi resgatado nesse meio-tempo, então ele fica para os relatórios. Reverta-o em vez disso:
oc-kept = Nada mudou. Envie outro código para consultá-lo.
oc-state-unredeemed = não resgatado
oc-state-redeemed = resgatado
oc-state-expired = expirado
oc-never = nunca
oc-show =
    Código { $code }
    Plano: { $plan }
    Estado: { $state }
    Ativações: { $used } de { $max }
    Expira: { $expires }
oc-redeemed-by = Resgatado por:
oc-button-roll-back = ↩️ Reverter…
oc-button-delete = 🗑 Excluir…
oc-button-yes-delete = Sim, excluir
oc-button-yes-roll-back = Sim, reverter
oc-confirm-delete = Excluir o código { $code }? Ele não poderá mais ser resgatado; isso não pode ser desfeito.
oc-confirm-roll-back = Reverter o código { $code }? Suas { $count } ativações são removidas: cada assinante perde o tempo que ele concedeu (o acesso termina onde não restar mais nada).
oc-deleted = 🗑 Código excluído. Envie outro código para consultá-lo.
oc-rolled-back = ↩️ Código { $code } revertido: { $removed } ativações removidas, { $ended } assinaturas encerradas, { $shortened } encurtadas. Envie outro código para consultá-lo.

## /newcode

nc-no-plans = Este projeto não tem planos ativos. Crie um primeiro no painel.
nc-which-plan = Novos códigos de acesso: para qual plano? (/cancel para parar)
nc-ask-quantity =
    Plano: { $plan }
    Quantos códigos? Escolha um ou envie um número de 1 a 1000.
nc-ask-other-quantity = Envie quantos códigos gerar: um número de 1 a 1000 (ou /cancel).
nc-bad-quantity = Isso não é um número de 1 a 1000. Envie quantos códigos gerar (ou /cancel).
nc-button-other = Outro
nc-ask-expiry = Quando os códigos não usados devem expirar? Escolha uma opção ou envie um número de dias ou uma data (AAAA-MM-DD).
nc-button-no-expiry = Sem expiração
nc-button-day = 1 dia
nc-button-week = 1 semana
nc-button-month = 1 mês
nc-button-year = 1 ano
nc-expiry-in-past = Essa data não está no futuro. Envie uma data posterior como 2027-01-31, um número de dias, ou escolha uma expiração com os botões (ou /cancel).
nc-expiry-passed = ❌ Não gerados: a data de expiração passou nesse meio-tempo. Envie /newcode para começar de novo.
nc-bad-days = Escolha uma expiração com os botões, ou envie um número de dias de 1 a 36500 ou uma data como 2027-01-31 (ou /cancel).
nc-ask-activations = Quantas vezes cada código pode ser resgatado? Envie um número de 1 a 1000000.
nc-bad-activations = Isso não é um número de 1 a 1000000. Envie quantas ativações cada código permite (ou /cancel).
nc-pick-button = Use os botões acima (ou /cancel).
nc-expiry-never = nunca
nc-expiry-after-days =
    { $days ->
        [one] após { $days } dia
       *[other] após { $days } dias
    }
nc-expiry-after-week = após 1 semana
nc-expiry-after-month = após 1 mês
nc-expiry-after-year = após 1 ano
nc-expiry-at-end-of = no fim de { $date } (UTC)
nc-fee-none = nenhuma
nc-preview =
    Prévia
    Plano: { $plan }
    Códigos: { $quantity }
    Expiração: { $expiry }
    Ativações por código: { $activations }
    Códigos grátis restantes neste ciclo: { $free_left }
    Grátis: { $free } · Excedente: { $overage }
    Taxa: { $fee }

    Gerar estes códigos?
nc-button-confirm = ✅ Confirmar
nc-button-activations = Alterar ativações por código
nc-generating = ✅ Confirmado: os códigos estão sendo gerados e serão enviados para este chat.
nc-refused-quota = ❌ Não gerados: o plano Free tem { $left } códigos grátis restantes neste ciclo. Envie /newcode com uma quantidade menor, ou faça upgrade no painel.
nc-refused-plan-inactive = ❌ Não gerados: esse plano não está mais ativo.
nc-refused-suspended = ❌ Não gerados: esta conta está suspensa.
nc-refused-past-due = ❌ Não gerados: há um pagamento em atraso. Atualize sua forma de pagamento no painel.
nc-refused-codes-off = ❌ Não gerados: os códigos de acesso estão desativados neste projeto.

## Command menus

cmd-start = Planos e como obter acesso
cmd-my = Suas assinaturas
cmd-help = O que este bot pode fazer
cmd-codes = Contagem de códigos por estado
cmd-code = Consultar, excluir ou reverter um código
cmd-members = Membros recentes
cmd-newcode = Gerar códigos de acesso
cmd-cancel = Parar o que está em andamento

## Notices to owners

batch-code =
    Código de acesso para “{ $plan }”: { $code }
    Resgatar: { $link }
batch-file = { $count } códigos de acesso para “{ $plan }”
webhook-failing = ⚠️ Seu endpoint de webhook { $url } está falhando: um evento não pôde ser entregue por 24 horas. Verifique o endpoint e tente novamente pela página Webhooks do painel.

## Welcome and free trials

welcome-default = Bem-vindo! Escolha um plano abaixo ou resgate um código de acesso.
welcome-nothing-sold = Bem-vindo!
how-to-get-access = Como obter acesso: { $how }
how-with-codes = peça ao criador um código de acesso, depois toque em “Resgatar um código” abaixo e envie-o.
how-without-anything = no momento este bot não oferece nada; pergunte ao criador. Envie /start mais tarde.
button-try-free =
    { $plan }: teste grátis { $days ->
        [one] { $days } dia
       *[other] { $days } dias
    }
button-buy-for = Comprar por { $stars } ⭐
button-out-of-date = Esse botão está desatualizado. Envie /start para ver os planos.
trial-started = 🎁 Seu teste grátis de “{ $plan }” começou: ele vale { $term }.
trial-used = Você já usou seu teste grátis aqui. Compre um plano ou resgate um código para obter acesso:
trial-already-subscribed = Você já tem este plano: /my mostra seu acesso.
trial-not-offered = Este plano não oferece mais teste grátis. Veja o que ele oferece agora:
reminder-trial-ends = Seu teste grátis de “{ $plan }” termina em { $at }. Compre o plano para manter seu acesso: o tempo pago começa quando o teste termina.
ended-trial-use-buttons = Seu teste grátis de “{ $plan }” terminou e seu acesso foi removido. Para continuar, use um botão abaixo.

## Códigos promocionais

button-have-promo = 🏷 Tenho um código promocional
ask-for-promo = Envie-me seu código promocional, ou /cancel.
promo-applied = 🏷 Código promocional { $code }: { $off } de desconto. Escolha um plano abaixo:
promo-off-percent = { $percent } %
promo-off-stars = { $stars } ⭐
button-buy-promo = { $plan }: Comprar por { $stars } ⭐ (em vez de { $list } ⭐)
button-buy-for-promo = Comprar por { $stars } ⭐ com { $code }
invoice-promo = { $code }: { $stars } ⭐ em vez de { $list } ⭐.
promo-unknown = Não conheço esse código promocional. Confira a grafia e envie de novo, ou envie /start para ver os planos.
promo-not-started = Este código promocional ainda não é válido. Envie /start para ver os planos pelo preço normal.
promo-expired = Este código promocional terminou. Envie /start para ver os planos pelo preço normal.
promo-exhausted = Este código promocional já foi usado todas as vezes que permite. Envie /start para ver os planos pelo preço normal.
promo-wrong-plan = Este código promocional não vale para este plano. Envie /start para ver os planos.
promo-already-used = Você já usou este código promocional. Envie /start para ver os planos pelo preço normal.
promo-new-customers-only = Este código promocional é só para clientes novos. Envie /start para ver os planos pelo preço normal.
retention-offer = Antes de ir: mantenha “{ $plan }” por { $stars } ⭐ por mês em vez de { $list } ⭐ com o código promocional { $code }.
button-stay-for = Ficar por { $stars } ⭐ por mês
button-cancel-anyway = Cancelar a renovação mesmo assim
retention-accepted = Sua renovação a { $list } ⭐ foi cancelada e seu acesso vale { $term }. Assine pelo novo preço abaixo: o tempo pago é somado ao que você já tem.
